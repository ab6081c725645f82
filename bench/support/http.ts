/** One-off HTTP(S) GETs to loopback, for readiness and for checking a path before loading it. */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface GetOptions {
  readonly headers?: Record<string, string>;
  /** PEM CA that verifies an https URL. */
  readonly ca?: string;
  readonly timeoutMs?: number;
}

export interface GetResult {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export function assertLoopback(url: URL): void {
  if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost' && url.hostname !== '[::1]') {
    throw new Error(`benchmarks only talk to loopback, not ${url.host}`);
  }
}

export function get(target: string, options: GetOptions = {}): Promise<GetResult> {
  const url = new URL(target);
  assertLoopback(url);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: 'GET', headers: options.headers, ca: options.ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(options.timeoutMs ?? 5_000, () => req.destroy(new Error(`GET ${target} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Retries a GET every `intervalMs` (default 100) until it answers `expectedStatus`, the deadline
 * passes, or `gaveUp()` says stop.
 */
export async function waitForStatus(
  target: string,
  expectedStatus: number,
  options: GetOptions & { deadlineMs?: number; intervalMs?: number; gaveUp?: () => string | undefined } = {},
): Promise<void> {
  const deadline = Date.now() + (options.deadlineMs ?? 15_000);
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const reason = options.gaveUp?.();
    if (reason !== undefined) throw new Error(reason);
    try {
      const { status } = await get(target, { ...options, timeoutMs: 1_000 });
      if (status === expectedStatus) return;
      last = `status ${status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
  throw new Error(`${target} did not answer ${expectedStatus} in time (last: ${last})`);
}
