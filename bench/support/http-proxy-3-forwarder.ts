/**
 * The comparison forwarder: http-proxy-3 set up as a careful user would, on a plain HTTP server on
 * 127.0.0.1. It verifies the upstream against the CA, keeps upstream connections alive and adds
 * the bearer token, and it does nothing else: no Host, path or method filter, no header
 * allow-list, no credential refresh (the ambassador does all of these on every request).
 *
 *   node bench/support/http-proxy-3-forwarder.ts --target https://127.0.0.1:PORT --ca CA_FILE --token TOKEN
 *
 * Listens on 127.0.0.1:0 and prints {"proxy":"127.0.0.1:PORT"} once it serves.
 */
import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { Agent } from 'node:https';
import type { Socket } from 'node:net';
import { createProxyServer } from 'http-proxy-3';
import { forwarderArgs, serveForwarder } from './forwarder-cli.ts';

const args = forwarderArgs('http-proxy-3-forwarder.ts');

const proxy = createProxyServer({
  target: args.target,
  agent: new Agent({ keepAlive: true, ca: readFileSync(args.ca, 'utf8') }),
  headers: { authorization: `Bearer ${args.token}` },
  changeOrigin: true,
  secure: true,
});

proxy.on('error', (error: Error, _req: unknown, res: ServerResponse | Socket) => {
  if (!('writeHead' in res)) {
    res.destroy();
    return;
  }
  if (res.headersSent) res.destroy();
  else res.writeHead(502, { 'content-type': 'text/plain' }).end(`upstream error: ${error.message}\n`);
});

const server = createServer((req, res) => proxy.web(req, res));
serveForwarder(server, () => proxy.close());
