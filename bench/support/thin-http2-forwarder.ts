/**
 * The floor: the least a Node forwarder can do, to tell Node's own cost from the ambassador's. A
 * plain HTTP server on 127.0.0.1 sends each request as a stream of one `node:http2` session to the
 * upstream (verified against the CA, with the bearer token) and pipes the answer back. Nothing else:
 * no filter, no header allow-list, no timeouts, metrics, audit or credential refresh.
 *
 *   node bench/support/thin-http2-forwarder.ts --target https://127.0.0.1:PORT --ca CA_FILE --token TOKEN
 *
 * Listens on 127.0.0.1:0 and prints {"proxy":"127.0.0.1:PORT"} once it serves.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:http2';
import { forwarderArgs, serveForwarder } from './forwarder-cli.ts';

const args = forwarderArgs('thin-http2-forwarder.ts');

const session = connect(args.target, { ca: readFileSync(args.ca, 'utf8') });
session.on('error', (error: Error) => {
  process.stderr.write(`upstream session failed: ${error.message}\n`);
  process.exit(1);
});
const authorization = `Bearer ${args.token}`;

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
