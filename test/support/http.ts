/** Small HTTP helpers for tests: raw requests (any Host, any target) and curl. */
import { execFile } from 'node:child_process';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json(): Record<string, unknown>;
}

function reply(status: number, headers: IncomingHttpHeaders, body: Buffer): Reply {
  return {
    status,
    headers,
    body,
    text: body.toString('utf8'),
    json: () => JSON.parse(body.toString('utf8')) as Record<string, unknown>,
  };
}

/** One request with node:http, which unlike fetch lets a test set Host and send any target. */
export function send(
  port: number,
  method: string,
  path: string,
  options: { headers?: Record<string, string | string[]>; body?: string | Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, headers: { host: `localhost:${port}`, ...options.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(reply(res.statusCode ?? 0, res.headers, Buffer.concat(chunks))));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Writes raw bytes on a new connection and resolves with everything the server sends until it closes. */
export function sendRaw(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
      // One answer is all these tests need; keep-alive would otherwise hold the socket open.
      if (received.includes('\r\n\r\n') && isComplete(received)) socket.end();
    });
    socket.on('end', () => resolve(received));
    socket.on('error', reject);
    socket.write(bytes);
  });
}

function isComplete(response: string): boolean {
  const headEnd = response.indexOf('\r\n\r\n');
  const length = /\r\ncontent-length: *(\d+)/i.exec(response.slice(0, headEnd));
  return length === null || response.length - headEnd - 4 >= Number(length[1]);
}

/** Parses the status code and JSON body of a raw HTTP/1.1 response. */
export function parseRawResponse(raw: string): { status: number; body: Record<string, unknown> | undefined } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
  const bodyText = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(bodyText) as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  return { status, body };
}

export async function curl(args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync('curl', ['--silent', '--show-error', ...args], {
    maxBuffer: 64 * 1024 * 1024,
    encoding: 'utf8',
  });
}
