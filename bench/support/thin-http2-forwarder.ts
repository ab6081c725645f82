/**
 * The floor: the least a Node forwarder can do, to tell Node's own cost from the ambassador's. A
 * plain HTTP server on 127.0.0.1 sends each request as a stream of one `node:http2` session to the
 * upstream (verified against the CA, with the bearer token), opening a new session after a GOAWAY,
 * and pipes the answer back. Nothing else: no filter, no header allow-list, no timeouts, metrics,
 * audit or credential refresh.
 *
 *   node bench/support/thin-http2-forwarder.ts --target https://127.0.0.1:PORT --ca CA_FILE --token TOKEN
 *
 * Listens on 127.0.0.1:0 and prints {"proxy":"127.0.0.1:PORT"} once it serves.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { connect, type ClientHttp2Session } from 'node:http2';
import { forwarderArgs, serveForwarder } from './forwarder-cli.ts';

const args = forwarderArgs('thin-http2-forwarder.ts');

const ca = readFileSync(args.ca, 'utf8');
const authorization = `Bearer ${args.token}`;

/**
 * One session at a time, replaced once the server sends GOAWAY (nginx does after keepalive_requests
 * streams) or it closes: the least a forwarder must do to keep serving.
 */
function openSession(): ClientHttp2Session {
  const opened = connect(args.target, { ca });
  const replace = (): void => {
    if (session === opened) session = openSession();
  };
  opened.on('goaway', replace).on('close', replace).on('error', replace);
  return opened;
}
let session = openSession();

/** Response headers without HTTP/2's pseudo-headers. */
function responseHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const relayed: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (!name.startsWith(':')) relayed[name] = value;
  return relayed;
}

const server = createServer((req, res) => {
  const stream = session.request({ ':method': req.method, ':path': req.url, authorization });
  stream.on('response', (headers) => {
    res.writeHead(Number(headers[':status']), responseHeaders(headers));
    stream.pipe(res);
  });
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.close());
  req.pipe(stream);
});
serveForwarder(server, () => session.close());
