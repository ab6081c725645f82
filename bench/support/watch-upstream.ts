/**
 * A streaming stand-in API server for the watch benchmark, run as its own process: HTTPS on
 * 127.0.0.1 offering HTTP/2 by ALPN (at most 1,000 streams per connection, as kube-apiserver's
 * --http2-max-streams-per-connection) and HTTP/1.1, with a bearer-token check. `/version` answers
 * as an API server does; any request with `watch=true` is a watch that gets one ADDED event at once
 * and then one MODIFIED event per second, each carrying the time it was written (watch-events.ts).
 * The watches are spread over 100 slots of 10 ms, so events leave evenly rather
 * than all at once each second.
 *
 *   node bench/support/watch-upstream.ts --cert FILE --key FILE --token TOKEN
 *
 * Listens on 127.0.0.1:0 and prints {"upstream":"127.0.0.1:PORT"} once it serves.
 */
import { readFileSync } from 'node:fs';
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { parseArgs } from 'node:util';
import { versionDocument } from './api-documents.ts';
import { watchEventLine } from './watch-events.ts';

const MAX_STREAMS_PER_CONNECTION = 1000;
const SLOT_MS = 10;
const SLOTS = 1000 / SLOT_MS;

const { values } = parseArgs({
  options: { cert: { type: 'string' }, key: { type: 'string' }, token: { type: 'string' } },
});
if (values.cert === undefined || values.key === undefined || values.token === undefined) {
  process.stderr.write('usage: watch-upstream.ts --cert FILE --key FILE --token TOKEN\n');
  process.exit(2);
}
const authorization = `Bearer ${values.token}`;
const version = versionDocument().body;

interface Watch {
  readonly name: string;
  readonly response: Http2ServerResponse;
}

/** The watches whose events are due in each 10 ms slot of every second. */
const slots: Set<Watch>[] = Array.from({ length: SLOTS }, () => new Set());
let watchesOpened = 0;
let resourceVersion = 0;

function sendEvent(watch: Watch, type: 'ADDED' | 'MODIFIED'): void {
  resourceVersion++;
  watch.response.write(watchEventLine(type, watch.name, resourceVersion));
}

function openWatch(request: Http2ServerRequest, response: Http2ServerResponse): void {
  const watch = { name: `watch-${watchesOpened}`, response };
  const slot = slots[watchesOpened % SLOTS];
  watchesOpened++;
  response.writeHead(200, { 'content-type': 'application/json' });
  sendEvent(watch, 'ADDED');
  slot?.add(watch);
  request.once('close', () => slot?.delete(watch));
}

const server = createSecureServer(
  {
    cert: readFileSync(values.cert),
    key: readFileSync(values.key),
    allowHTTP1: true,
    settings: { maxConcurrentStreams: MAX_STREAMS_PER_CONNECTION },
  },
  (request, response) => {
    if (request.headers.authorization !== authorization) {
      response.writeHead(401, { 'content-type': 'application/json' }).end('{"kind":"Status","code":401}');
      return;
    }
    const url = new URL(request.url, 'https://127.0.0.1');
    if (url.pathname === '/version') response.writeHead(200, { 'content-type': 'application/json' }).end(version);
    else if (url.searchParams.get('watch') === 'true') openWatch(request, response);
    else response.writeHead(404, { 'content-type': 'application/json' }).end('{"kind":"Status","code":404}');
  },
);

/** Sends the events of every slot that came due since the last tick, so a late timer skips none. */
let lastSlot = Math.floor(Date.now() / SLOT_MS);
const ticker = setInterval(() => {
  const nowSlot = Math.floor(Date.now() / SLOT_MS);
  for (let due = Math.max(lastSlot + 1, nowSlot - SLOTS + 1); due <= nowSlot; due++) {
    for (const watch of slots[due % SLOTS] ?? []) sendEvent(watch, 'MODIFIED');
  }
  lastSlot = nowSlot;
}, SLOT_MS);

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ upstream: `127.0.0.1:${port}` })}\n`);
});

function shutdown(): void {
  clearInterval(ticker);
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
