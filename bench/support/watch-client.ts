/**
 * The watch benchmark's client, run as its own process: opens `--watches` watches at once through
 * `--url` (a forwarder, or the upstream itself with `--ca` and `--token`) over a keep-alive agent
 * with no socket limit, waits until every one has delivered its first event, lets the forwarder
 * settle for two seconds (the garbage left from opening them), then for `--seconds` records each
 * event's delay (arrival minus the upstream's send time, both on the machine's
 * monotonic clock) and which watches delivered.
 *
 *   node bench/support/watch-client.ts --url URL --watches 1000 --seconds 10 [--ca FILE --token TOKEN]
 *
 * Prints two JSON lines on stdout: `{"phase":"open",…}` as the measured window starts, once all
 * watches deliver (or the wait for them ends), then `{"phase":"done",…}` with the figures, and exits.
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { parseArgs } from 'node:util';
import { assertLoopback } from './http.ts';
import { quantile } from './stats.ts';
import { sentAt } from './watch-events.ts';

const OPEN_TIMEOUT_MS = 60_000;
const SETTLE_MS = 2_000;

export interface WatchesOpen {
  readonly phase: 'open';
  /** Watches that answered 200 and delivered their first event. */
  readonly delivering: number;
  /** Watches refused (a status other than 200) or failed (a socket error). */
  readonly failed: number;
  /** From the first request to the last first event, ms. */
  readonly openMs: number;
}

export interface WatchesMeasured {
  readonly phase: 'done';
  /** Watches that delivered at least one event during the measured window. */
  readonly delivering: number;
  readonly events: number;
  /** Event delay, ms. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Watches that ended or failed during the window. */
  readonly ended: number;
}

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    watches: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    ca: { type: 'string' },
    token: { type: 'string' },
  },
});
if (values.url === undefined) {
  process.stderr.write('usage: watch-client.ts --url URL [--watches N --seconds S --ca FILE --token TOKEN]\n');
  process.exit(2);
}
const base = new URL(values.url);
assertLoopback(base);
const watchCount = Number(values.watches);
const windowMs = Number(values.seconds) * 1000;
const secure = base.protocol === 'https:';
const agent = secure
  ? new HttpsAgent({
      keepAlive: true,
      maxSockets: Infinity,
      ca: values.ca === undefined ? undefined : readFileSync(values.ca),
    })
  : new HttpAgent({ keepAlive: true, maxSockets: Infinity });
const headers: Record<string, string> = values.token === undefined ? {} : { authorization: `Bearer ${values.token}` };

let measuring = false;
let delivering = 0;
let failed = 0;
let ended = 0;
const delaysMs: number[] = [];
const deliveredInWindow = new Set<number>();
const requests: ClientRequest[] = [];
let allOpen: () => void = () => undefined;

function onEvents(index: number, text: string, arrived: bigint): void {
  for (const line of text.split('\n')) {
    const sent = sentAt(line);
    if (sent === undefined || !measuring) continue;
    delaysMs.push(Number(arrived - sent) / 1e6);
    deliveredInWindow.add(index);
  }
}

function settle(): void {
  if (delivering + failed === watchCount) allOpen();
}

function openWatch(index: number): void {
  const path = `${base.pathname.replace(/\/$/, '')}/api/v1/namespaces/default/pods?watch=true&fieldSelector=metadata.name%3Dwatch-${index}`;
  const send = secure ? httpsRequest : httpRequest;
  const request = send({ host: base.hostname, port: base.port, path, agent, headers }, (response: IncomingMessage) => {
    if (response.statusCode !== 200) {
      failed++;
      response.resume();
      settle();
      return;
    }
    let first = true;
    let partial = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      const arrived = process.hrtime.bigint();
      const text = partial + chunk;
      const lastNewline = text.lastIndexOf('\n');
      partial = text.slice(lastNewline + 1);
      if (lastNewline < 0) return;
      onEvents(index, text.slice(0, lastNewline), arrived);
      if (first) {
        first = false;
        delivering++;
        settle();
      }
    });
    response.once('end', () => ended++);
  });
  request.once('error', () => {
    if (measuring) ended++;
    else failed++;
    settle();
  });
  request.end();
  requests.push(request);
}

function print(line: WatchesOpen | WatchesMeasured): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const started = performance.now();
const opened = new Promise<void>((resolve) => {
  allOpen = resolve;
  setTimeout(resolve, OPEN_TIMEOUT_MS).unref();
});
for (let index = 0; index < watchCount; index++) openWatch(index);
await opened;
const openMs = Math.round(performance.now() - started);
await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
print({ phase: 'open', delivering, failed, openMs });

ended = 0;
measuring = true;
await new Promise((resolve) => setTimeout(resolve, windowMs));
measuring = false;
print({
  phase: 'done',
  delivering: deliveredInWindow.size,
  events: delaysMs.length,
  p50Ms: quantile(delaysMs, 0.5),
  p99Ms: quantile(delaysMs, 0.99),
  maxMs: quantile(delaysMs, 1),
  ended,
});
for (const request of requests) request.destroy();
agent.destroy();
