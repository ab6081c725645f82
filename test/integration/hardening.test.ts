/**
 * Client faults and load at the edges, each measured on the real ambassador process: a client that
 * stops reading, a request body that stalls, 10,000 aborted requests, clients that leave mid-upgrade,
 * and SIGTERM under load.
 * Memory and descriptors are read from /proc/PID of the ambassador; its timers from its own
 * /metrics (prom-client's nodejs_active_resources, fed by process.getActiveResourcesInfo()).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  startAmbassador,
  startClusterAndAmbassador,
  stopClusterAndAmbassador,
  type RunningAmbassador,
} from '../support/ambassador.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { parseRawResponse, send } from '../support/http.ts';
import { tcpBufferMax, within } from '../support/bounds.ts';
import { scriptLargeAnswer, untilStalledOrFinished } from '../support/large-answer.ts';
import { handleStreamingUpgrade } from '../support/streaming.ts';

const MiB = 1024 * 1024;

function openFiles(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** A field of /proc/PID/status in bytes: VmRSS (resident now) or VmHWM (peak resident so far). */
function memoryField(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const kilobytes = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kilobytes === undefined) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(kilobytes) * 1024;
}

/** The ambassador's /metrics over a connection that closes after the answer, so it leaves no descriptor open. */
function scrapeMetrics(ambassador: RunningAmbassador): Promise<string> {
  return new Promise((resolve, reject) => {
    request(`${ambassador.adminUrl}/metrics`, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve(text));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/** The value of one exposition line (`name{labels} value`), or 0 when the series is absent. */
function metricValue(exposition: string, series: string): number {
  const line = exposition.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** Timers keeping the ambassador's event loop alive, from its own /metrics. */
async function activeTimers(ambassador: RunningAmbassador): Promise<number> {
  return metricValue(await scrapeMetrics(ambassador), 'nodejs_active_resources{type="Timeout"}');
}

/** A promise with its resolve function, for events the test waits on. */
function signal<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => (resolve = settle));
  return { promise, resolve };
}

/** Opens a raw connection to the ambassador and resolves once it is connected. */
function rawConnection(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Writes and resolves once the bytes are handed to the kernel. */
function writeAll(socket: Socket, bytes: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve())));
}

/** Resolves with everything received up to and including the end of the response head. */
function readResponseHead(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      if (received.includes('\r\n\r\n')) {
        socket.off('data', onData);
        socket.off('error', reject);
        socket.pause();
        resolve(received);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** Resolves once the socket has closed (at once if it already has). */
function closed(socket: Duplex): Promise<void> {
  return socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));
}

/** Whether the body is a JSON object of this kind naming the pod `web` somewhere. */
function isJsonNamingWeb(body: Buffer, kind: string): boolean {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { kind?: string };
    return parsed.kind === kind && body.includes('"name":"web"');
  } catch {
    return false;
  }
}

/** A WebSocket exec request as kubectl sends it. */
function upgradeRequest(target: string): string {
  return (
    `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n'
  );
}

interface UpgradeWatchingCluster {
  readonly cluster: TestCluster;
  /** Resolves with the API server's end of the upgrade to `target` once it arrives; call before sending it. */
  upgradeArriving(target: string): Promise<Duplex>;
}

/**
 * A test cluster with the pod `web` whose API server hands the test its end of every upgrade, and never
 * answers upgrades whose command is `held` (a client then waits for a 101 that does not come).
 */
async function startUpgradeWatchingCluster(): Promise<UpgradeWatchingCluster> {
  const arriving = new Map<string, (socket: Duplex) => void>();
  const cluster = await startTestCluster({
    onUpgrade: (req, socket, head) => {
      const target = req.url ?? '';
      arriving.get(target)?.(socket);
      arriving.delete(target);
      if (!target.includes('command=held')) handleStreamingUpgrade(req, socket, head);
    },
  });
  cluster.api.putPod('default', 'web');
  return {
    cluster,
    upgradeArriving: (target) => new Promise((resolve) => arriving.set(target, resolve)),
  };
}

describe('a client that never reads its response', () => {
  let cluster: TestCluster;
  let ambassador: RunningAmbassador;

  beforeAll(async () => {
    ({ cluster, ambassador } = await startClusterAndAmbassador());
  });

  afterAll(() => stopClusterAndAmbassador({ cluster, ambassador }));

  it("stalls the API server's writes instead of buffering them, then delivers every byte once it reads again", async () => {
    const pid = ambassador.child.pid ?? 0;
    const total = 256 * MiB;
    const path = '/api/v1/namespaces/default/configmaps/endless';
    const writer = scriptLargeAnswer(cluster.api, path, total);

    const residentBefore = memoryField(pid, 'VmRSS');
    const client = await rawConnection(ambassador.port);
    await writeAll(client, `GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    const head = await readResponseHead(client); // and stops reading
    const headEnd = head.indexOf('\r\n\r\n') + 4;
    expect(head.subarray(0, headEnd).toString('latin1')).toMatch(
      /^HTTP\/1\.1 200 [^]*\r\ncontent-length: 268435456\r\n/i,
    );

    await untilStalledOrFinished(writer, 30_000);
    const writtenWhileStalled = writer.written;
    const residentStalled = memoryField(pid, 'VmRSS');
    expect(writer.finished).toBe(false);
    // What the writer got out is what two loopback connections' kernel buffers can hold, plus the little the
    // proxy itself holds (its RSS, below). Autotuning decides how much of that kernel room is used: 8-9 MiB here.
    expect(writtenWhileStalled).toBeLessThan(2 * (tcpBufferMax('tcp_rmem') + tcpBufferMax('tcp_wmem')) + 4 * MiB);
    expect(residentStalled - residentBefore).toBeLessThan(16 * MiB);

    let received = head.length - headEnd;
    const peakBefore = memoryField(pid, 'VmHWM');
    await new Promise<void>((resolve, reject) => {
      client.on('data', (data: Buffer) => {
        received += data.length;
        if (received >= total) resolve();
      });
      client.once('error', reject);
      client.once('end', () => reject(new Error(`the connection ended after ${received} of ${total} bytes`)));
      client.resume();
    });
    client.destroy();
    expect(received).toBe(total);
    expect(writer.finished).toBe(true);
    // The whole 256 MiB went through without the proxy's peak memory growing by anything near a body's worth.
    // The bound is loose on purpose: V8's young generation alone may grow by two 16 MiB semi-spaces under
    // this much allocation churn (a fast CI machine saw 35 MiB), while buffering the body would add 256 MiB.
    const peakGrowth = memoryField(pid, 'VmHWM') - peakBefore;
    console.info(
      `backpressure: the API server wrote ${(writtenWhileStalled / MiB).toFixed(1)} MiB of 256 MiB before stalling; ` +
        `ambassador RSS ${(residentBefore / MiB).toFixed(1)} → ${(residentStalled / MiB).toFixed(1)} MiB while stalled, ` +
        `peak +${(peakGrowth / MiB).toFixed(1)} MiB while delivering`,
    );
    expect(peakGrowth).toBeLessThan(total / 4);
  });
});

describe('past its memory budget', () => {
  let cluster: TestCluster;
  let ambassador: RunningAmbassador;

  // 1 MiB is far below any Node process's RSS: the budget is exceeded from the first sample on.
  beforeAll(async () => {
    ({ cluster, ambassador } = await startClusterAndAmbassador(['--memory-limit', '1Mi']));
  });

  afterAll(() => stopClusterAndAmbassador({ cluster, ambassador }));

  it('sheds new requests with a 429 Status and Retry-After while others are in flight, and serves one when none is', async () => {
    expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods?alone=1')).status).toBe(200);

    // An upload that has sent 7 of its 100 bytes stays in flight.
    const uploader = await rawConnection(ambassador.port);
    uploader.on('error', () => undefined);
    await writeAll(
      uploader,
      'POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"kind"',
    );
    await expect
      .poll(async () => metricValue(await scrapeMetrics(ambassador), 'kube_api_ambassador_requests_in_flight'))
      .toBe(1);

    const shed = await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods?shed=1');
    expect(shed.status).toBe(429);
    expect(shed.headers['retry-after']).toBe('1');
    expect(shed.json()).toMatchObject({ kind: 'Status', reason: 'TooManyRequests', code: 429 });
    expect(String(shed.json()['message'])).toContain('memory limit of 1 MiB');
    expect(cluster.api.requests.map((r) => r.url)).not.toContain('/api/v1/namespaces/default/pods?shed=1');

    uploader.destroy();
    await expect
      .poll(async () => metricValue(await scrapeMetrics(ambassador), 'kube_api_ambassador_requests_in_flight'))
      .toBe(0);
    expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods?after=1')).status).toBe(200);
  });
});

describe('a request body that stalls', () => {
  const BODY_TIMEOUT_MS = 3000;
  let cluster: TestCluster;
  let ambassador: RunningAmbassador;

  beforeAll(async () => {
    ({ cluster, ambassador } = await startClusterAndAmbassador([
      '--max-requests-in-flight',
      '1',
      '--request-body-timeout',
      `${BODY_TIMEOUT_MS}ms`,
    ]));
  });

  afterAll(() => stopClusterAndAmbassador({ cluster, ambassador }));

  async function inFlight(): Promise<number> {
    return metricValue(await scrapeMetrics(ambassador), 'kube_api_ambassador_requests_in_flight');
  }

  it('gets a 408 Status, its connection closed and its slot back, and the API server never gets the request whole', async () => {
    const path = '/api/v1/namespaces/default/configmaps?stalled=1';
    const client = await rawConnection(ambassador.port);
    client.on('error', () => undefined);
    let answer = '';
    client.setEncoding('latin1').on('data', (chunk: string) => (answer += chunk));
    const clientClosed = closed(client);
    // 100 bytes announced, 7 sent, then nothing.
    await writeAll(
      client,
      `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"kind"`,
    );
    await expect.poll(inFlight, { timeout: BODY_TIMEOUT_MS }).toBe(1);
    expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods?while=stalled')).status).toBe(429);

    await within(clientClosed, 10_000, 'the stalled request is still open');
    const { status, body } = parseRawResponse(answer);
    expect(status).toBe(408);
    expect(body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Timeout', code: 408 });
    expect(String(body?.['message'])).toContain('--request-body-timeout');
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);

    expect(await inFlight()).toBe(0);
    expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods?after=stalled')).status).toBe(200);
    // The API server answered the request sent after the stalled one: the stalled POST, aborted half-sent, never arrived whole.
    expect(cluster.api.requests.map((r) => `${r.method} ${r.url}`)).not.toContain(`POST ${path}`);

    const event = await ambassador.waitForLog((line) => line['kind'] === 'Event' && line['requestURI'] === path);
    expect(event).toMatchObject({ verb: 'create', responseStatus: { code: 408, status: 'Failure' } });
    const exposition = await scrapeMetrics(ambassador);
    expect(exposition).toMatch(
      /^kube_api_ambassador_requests_total\{verb="POST",[^}]*resource="configmaps",[^}]*code="408"[^}]*\} 1$/m,
    );
  });

  it('answers 504 when it is the API server that stops taking the body, and frees the slot', async () => {
    const path = '/api/v1/namespaces/default/configmaps?held-up=1';
    cluster.api.script((method, url) => method === 'POST' && url === path, 'stall-body');
    try {
      const client = await rawConnection(ambassador.port);
      client.on('error', () => undefined); // the ambassador closes with the upload unread: a reset
      client.resume();
      // Far more than the flow-control windows and socket buffers between here and the API server hold.
      const body = Buffer.alloc(16 * MiB, 'x');
      client.write(
        `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      client.write(body);

      const event = await ambassador.waitForLog(
        (line) => line['kind'] === 'Event' && line['requestURI'] === path,
        5 * BODY_TIMEOUT_MS,
      );
      expect(event).toMatchObject({
        responseStatus: {
          code: 504,
          message: expect.stringContaining('the API server stopped taking the request body') as unknown,
        },
      });
      client.destroy();
      const exposition = await scrapeMetrics(ambassador);
      expect(metricValue(exposition, 'kube_api_ambassador_upstream_errors_total{cause="timeout"}')).toBe(1);
      expect(metricValue(exposition, 'kube_api_ambassador_requests_in_flight')).toBe(0);
      expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods?after=held-up')).status).toBe(200);
    } finally {
      cluster.api.clearScripts();
    }
  });

  it('does not cut an upload that keeps moving, however long it takes in all', async () => {
    // 12 chunks a fifth of the deadline apart: never silent for long, and 11 pauses (2.2 deadlines) before the body is whole.
    const CHUNKS = 12;
    const GAP_MS = BODY_TIMEOUT_MS / 5;
    const path = '/api/v1/namespaces/default/configmaps/steady';
    const body = Buffer.from(
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'steady' },
        data: { x: 'y'.repeat(10 * CHUNKS) },
      }),
    );
    const started = performance.now();
    const answered = new Promise<IncomingMessage>((resolve, reject) => {
      const upload = request(
        {
          host: '127.0.0.1',
          port: ambassador.port,
          method: 'PUT',
          path,
          agent: false,
          headers: { host: 'localhost', 'content-type': 'application/json', 'content-length': body.length },
        },
        resolve,
      );
      upload.on('error', reject);
      void (async () => {
        const size = Math.ceil(body.length / CHUNKS);
        for (let chunk = 0; chunk < CHUNKS; chunk++) {
          upload.write(body.subarray(chunk * size, (chunk + 1) * size));
          await delay(GAP_MS);
        }
        upload.end();
      })();
    });
    const response = await within(answered, 10 * BODY_TIMEOUT_MS, 'the steady upload got no answer');
    response.resume();
    const seconds = (performance.now() - started) / 1000;
    expect(response.statusCode).toBe(201);
    expect(seconds).toBeGreaterThan((2 * BODY_TIMEOUT_MS) / 1000);
    const received = await cluster.api.waitForRequest((r) => r.method === 'PUT' && r.url === path);
    expect(received.body.equals(body)).toBe(true);
  });
});

describe('10,000 aborted requests in a row', () => {
  let cluster: TestCluster;
  let ambassador: RunningAmbassador;

  beforeAll(async () => {
    ({ cluster, ambassador } = await startClusterAndAmbassador());
    cluster.api.putPod('default', 'web');
  });

  afterAll(() => stopClusterAndAmbassador({ cluster, ambassador }));

  const ABORT_POINTS = ['mid-headers', 'after-headers', 'mid-upload', 'awaiting-answer', 'mid-watch'] as const;
  type AbortPoint = (typeof ABORT_POINTS)[number];
  /** Requests to this path reach the API server, which tells the test and never answers. */
  const SLOW_PATH = '/api/v1/namespaces/default/pods/slow';
  const arrivals = new Map<string, () => void>();

  /** Opens one request through the ambassador and abandons it at `point`; resolves once the socket is closed. */
  async function abortAt(point: AbortPoint, id: number): Promise<void> {
    const socket = await rawConnection(ambassador.port);
    socket.on('error', () => undefined);
    const gone = closed(socket);
    switch (point) {
      case 'mid-headers':
        await writeAll(socket, `GET ${SLOW_PATH}?abort=${id} HTTP/1.1\r\nHost: local`);
        break;
      case 'after-headers':
        await writeAll(socket, `GET ${SLOW_PATH}?abort=${id} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
        break;
      case 'mid-upload':
        await writeAll(
          socket,
          `PUT /api/v1/namespaces/default/configmaps/upload-${id} HTTP/1.1\r\nHost: localhost\r\n` +
            `Content-Type: application/json\r\nContent-Length: 4096\r\n\r\n{"metadata":{"name":"upload-${id}"},"data":{"x":"`,
        );
        break;
      case 'awaiting-answer': {
        const target = `${SLOW_PATH}?abort=${id}`;
        const arrived = signal();
        arrivals.set(target, arrived.resolve);
        await writeAll(socket, `GET ${target} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
        await arrived.promise;
        arrivals.delete(target);
        break;
      }
      case 'mid-watch':
        await writeAll(
          socket,
          `GET /api/v1/namespaces/default/pods?watch=1&abort=${id} HTTP/1.1\r\nHost: localhost\r\n\r\n`,
        );
        await readResponseHead(socket);
        break;
    }
    socket.destroy();
    await gone;
  }

  /** `count` aborts, cycling through the abort points, `concurrency` at a time. */
  async function abortMany(count: number, concurrency: number): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let id = next++; id < count; id = next++)
        await abortAt(ABORT_POINTS[id % ABORT_POINTS.length] ?? 'mid-headers', id);
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  it('leave descriptors, timers, in-flight counts and memory where they started', async () => {
    cluster.api.script((_, url) => url.startsWith(SLOW_PATH), {
      respond: (req) => arrivals.get(req.url ?? '')?.(),
    });
    const pid = ambassador.child.pid ?? 0;
    // Warm-up as long as the measured run, so code is compiled and the heap, pools and buffers have reached
    // their working size: after only 2,000 the heap was still growing toward it (RSS +15 to +32 MiB next).
    await abortMany(10_000, 50);
    await expect.poll(() => cluster.api.openWatches(), { timeout: 10_000 }).toBe(0);
    const filesBefore = openFiles(pid);
    const residentBefore = memoryField(pid, 'VmRSS');
    const timersBefore = await activeTimers(ambassador);

    const started = Date.now();
    await abortMany(10_000, 50);
    const seconds = (Date.now() - started) / 1000;

    // Everything the aborted requests opened is closed: upstream requests, watches, their timers.
    await expect.poll(() => openFiles(pid), { timeout: 20_000 }).toBeLessThanOrEqual(filesBefore);
    await expect.poll(() => cluster.api.openWatches(), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => activeTimers(ambassador), { timeout: 10_000 }).toBeLessThanOrEqual(timersBefore);
    const exposition = await scrapeMetrics(ambassador);
    expect(metricValue(exposition, 'kube_api_ambassador_requests_in_flight')).toBe(0);
    expect(metricValue(exposition, 'kube_api_ambassador_long_running_requests{kind="watch"}')).toBe(0);
    // Memory settles at a working size: the V8 heap grows to about 60 MB between major collections (heap
    // used after them stays near 20 MB), which a leak of a few KB per request would add 30 MB or more to.
    const residentAfter = memoryField(pid, 'VmRSS');
    expect(residentAfter - residentBefore).toBeLessThan(48 * MiB);
    // And it still serves.
    expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods/web')).status).toBe(200);
    console.info(
      `10,000 aborts in ${seconds.toFixed(1)} s: descriptors ${filesBefore} → ${openFiles(pid)}, ` +
        `timers ${timersBefore} → ${await activeTimers(ambassador)}, ` +
        `RSS ${(residentBefore / MiB).toFixed(1)} → ${(residentAfter / MiB).toFixed(1)} MiB`,
    );
  }, 120_000);
});

describe('a client that leaves mid-upgrade', () => {
  let watching: UpgradeWatchingCluster;
  let ambassador: RunningAmbassador;

  beforeAll(async () => {
    watching = await startUpgradeWatchingCluster();
    // exec is refused by kubectl proxy's default --reject-paths. The upstream timeout, which would also end
    // an upgrade left waiting, is far beyond the tests' waits.
    ambassador = await startAmbassador([
      ...watching.cluster.ambassadorArgs,
      '--reject-paths',
      '',
      '--upstream-timeout',
      '10m',
    ]);
  });

  afterAll(() => stopClusterAndAmbassador({ cluster: watching.cluster, ambassador }));

  it.each([
    // With nothing unread, closing the descriptor sends a FIN, as when a client process dies.
    ['closes its connection (FIN)', (socket: Socket) => socket.destroy()],
    ['resets its connection (RST)', (socket: Socket) => socket.resetAndDestroy()],
  ])('before the 101: the client %s and the upstream connection closes', async (how, leave) => {
    const pid = ambassador.child.pid ?? 0;
    const filesBefore = openFiles(pid);
    // Written as the ambassador forwards queries (url.QueryEscape: spaces as "+"), so the API server sees this very target.
    const target = `/api/v1/namespaces/default/pods/web/exec?command=held&stdout=true&${new URLSearchParams({ how }).toString()}`;
    const arriving = watching.upgradeArriving(target);
    const client = await rawConnection(ambassador.port);
    client.on('error', () => undefined);
    await writeAll(client, upgradeRequest(target));
    const upstreamClosed = closed(await within(arriving, 10_000, 'the upgrade did not reach the API server'));

    leave(client);
    await within(upstreamClosed, 10_000, "the API server's end of the upgrade is still open");
    await expect.poll(() => openFiles(pid), { timeout: 10_000 }).toBeLessThanOrEqual(filesBefore);
  });

  it.each([
    ['closes its connection (FIN)', (socket: Socket) => socket.end()],
    ['resets its connection (RST)', (socket: Socket) => socket.resetAndDestroy()],
  ])('after the 101, mid-session: the client %s and the upstream connection closes', async (how, leave) => {
    const pid = ambassador.child.pid ?? 0;
    const filesBefore = openFiles(pid);
    const target = `/api/v1/namespaces/default/pods/web/exec?command=cat&stdin=true&stdout=true&${new URLSearchParams({ how }).toString()}`;
    const arriving = watching.upgradeArriving(target);
    const session = new WebSocket(`ws://127.0.0.1:${ambassador.port}${target}`, ['v5.channel.k8s.io']);
    session.on('error', () => undefined);
    const echoed = new Promise<Buffer>((resolve) => session.once('message', (data: Buffer) => resolve(data)));
    await new Promise<void>((resolve, reject) => {
      session.once('open', resolve);
      session.once('unexpected-response', (_, response: IncomingMessage) =>
        reject(new Error(`no 101 but ${response.statusCode}`)),
      );
    });
    session.send(Buffer.concat([Buffer.from([0]), Buffer.from('mid-session\n')])); // channel 0: stdin
    expect((await within(echoed, 10_000, 'cat did not echo')).subarray(1).toString()).toBe('mid-session\n');
    const upstreamClosed = closed(await arriving);

    // The WebSocket's own TCP connection, left without a closing handshake.
    const socket = (session as WebSocket & { _socket: Socket })._socket;
    leave(socket);
    await within(upstreamClosed, 10_000, "the API server's end of the session is still open");
    await expect.poll(() => openFiles(pid), { timeout: 10_000 }).toBeLessThanOrEqual(filesBefore);
    session.terminate();
  });
});

describe('SIGTERM', () => {
  let watching: UpgradeWatchingCluster;
  let cluster: TestCluster;

  beforeAll(async () => {
    watching = await startUpgradeWatchingCluster();
    ({ cluster } = watching);
  });

  afterAll(() => cluster.close());

  it('ends an upgrade still waiting for its 101: both its connections close and the ambassador exits 0', async () => {
    // An upstream timeout far beyond the test's waits: only the shutdown can end the upgrade in time.
    const ambassador = await startAmbassador([
      ...cluster.ambassadorArgs,
      '--reject-paths',
      '',
      '--upstream-timeout',
      '10m',
      '--shutdown-grace-period',
      '60s',
    ]);
    try {
      const target = '/api/v1/namespaces/default/pods/web/exec?command=held&stdout=true&sigterm=1';
      const arriving = watching.upgradeArriving(target);
      const client = await rawConnection(ambassador.port);
      client.on('error', () => undefined);
      const clientClosed = closed(client);
      client.resume();
      await writeAll(client, upgradeRequest(target));
      const upstreamClosed = closed(await within(arriving, 10_000, 'the upgrade did not reach the API server'));

      ambassador.child.kill('SIGTERM');
      await within(
        Promise.all([clientClosed, upstreamClosed]),
        20_000,
        'the waiting upgrade kept its connections open after SIGTERM',
      );
      expect(await within(ambassador.exited, 20_000, 'the ambassador did not exit')).toBe(0);
    } finally {
      await ambassador.stop('SIGKILL');
    }
  });

  type Outcome =
    | { kind: 'completed'; id: string }
    /** The request was answered, but not with what the API server sent. */
    | { kind: 'wrong'; id: string; detail: string }
    /** The connection failed before any response: refused at connect, or closed before the request was read. */
    | { kind: 'refused' | 'dropped'; id: string; code: string }
    /** The response started and then broke. */
    | { kind: 'broken'; id: string; code: string };

  interface Expected {
    readonly method: string;
    readonly path: string;
    readonly body?: Buffer;
    readonly status: number;
    /** Checks the whole response body. */
    readonly check: (body: Buffer) => boolean;
  }

  function expectation(client: number, n: number): Expected {
    const id = `${client}-${n}`;
    switch (n % 3) {
      case 0:
        return {
          method: 'GET',
          path: `/api/v1/namespaces/default/pods?load=${id}`,
          status: 200,
          check: (body) => isJsonNamingWeb(body, 'PodList'),
        };
      case 1:
        return {
          method: 'GET',
          path: `/api/v1/namespaces/default/pods/web?load=${id}`,
          status: 200,
          check: (body) => isJsonNamingWeb(body, 'Pod'),
        };
      default: {
        const body = Buffer.from(
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: `load-${id}` },
            data: { payload: 'p'.repeat(n % 4096) },
          }),
        );
        return {
          method: 'PUT',
          path: `/api/v1/namespaces/default/configmaps/load-${id}`,
          body,
          status: 201,
          check: (echoed) => echoed.equals(body),
        };
      }
    }
  }

  function exchange(port: number, agent: Agent | false, expected: Expected, id: string): Promise<Outcome> {
    return new Promise((resolve) => {
      const headers: Record<string, string> = { host: 'localhost' };
      if (expected.body !== undefined) headers['content-type'] = 'application/json';
      const req = request(
        { host: '127.0.0.1', port, method: expected.method, path: expected.path, agent, headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error: NodeJS.ErrnoException) =>
            resolve({ kind: 'broken', id, code: error.code ?? error.message }),
          );
          res.on('end', () => {
            const body = Buffer.concat(chunks);
            if (res.statusCode !== expected.status)
              resolve({ kind: 'wrong', id, detail: `${res.statusCode}: ${body.toString().slice(0, 200)}` });
            else if (!expected.check(body))
              resolve({ kind: 'wrong', id, detail: `unexpected body: ${body.toString().slice(0, 200)}` });
            else resolve({ kind: 'completed', id });
          });
        },
      );
      req.on('error', (error: NodeJS.ErrnoException) => {
        const code = error.code ?? error.message;
        resolve({ kind: code === 'ECONNREFUSED' ? 'refused' : 'dropped', id, code });
      });
      req.end(expected.body);
    });
  }

  it('under load, finishes every accepted request with its whole answer, ends watches cleanly and exits 0', async () => {
    const ambassador = await startAmbassador([...cluster.ambassadorArgs, '--shutdown-grace-period', '60s']);
    try {
      await loadThenSigterm(ambassador);
    } finally {
      await ambassador.stop('SIGKILL');
    }
  }, 90_000);

  async function loadThenSigterm(ambassador: RunningAmbassador): Promise<void> {
    const { port } = ambassador;
    const CLIENTS = 32;
    const SLOW = 8;
    const WATCHES = 4;

    // Slow answers: the API server holds them until the test releases them, after SIGTERM.
    const release = signal();
    const slowArrived = new Map<string, () => void>();
    const slowBody = (id: string): string =>
      JSON.stringify({
        kind: 'ConfigMap',
        apiVersion: 'v1',
        metadata: { name: `slow-${id}` },
        data: { x: 'y'.repeat(64 * 1024) },
      });
    cluster.api.script((_, url) => url.startsWith('/api/v1/namespaces/default/configmaps/slow-'), {
      respond: (req, res) => {
        const url = req.url ?? '';
        slowArrived.get(url)?.();
        void release.promise.then(() => {
          const body = slowBody(url.slice(url.lastIndexOf('slow-') + 'slow-'.length));
          res
            .writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
            .end(body);
        });
      },
    });

    const watches = Array.from(
      { length: WATCHES },
      (_, i) =>
        new Promise<{ ended: boolean; body: string }>((resolve) => {
          const watch = request(
            {
              host: '127.0.0.1',
              port,
              path: `/api/v1/namespaces/default/pods?watch=1&w=${i}`,
              agent: false,
              headers: { host: 'localhost' },
            },
            (res) => {
              let body = '';
              res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
              res.on('end', () => resolve({ ended: true, body }));
              res.on('error', () => resolve({ ended: false, body }));
            },
          );
          watch.on('error', () => resolve({ ended: false, body: '' }));
          watch.end();
        }),
    );
    await expect.poll(() => cluster.api.openWatches(), { timeout: 10_000 }).toBe(WATCHES);

    const slow = Array.from({ length: SLOW }, (_, i) => {
      const path = `/api/v1/namespaces/default/configmaps/slow-${i}`;
      const arrived = signal();
      slowArrived.set(path, arrived.resolve);
      const answer = exchange(
        port,
        false,
        { method: 'GET', path, status: 200, check: (body) => body.toString() === slowBody(String(i)) },
        `slow-${i}`,
      );
      return { arrived: arrived.promise, answer };
    });

    const outcomes: Outcome[] = [];
    const clients = Array.from({ length: CLIENTS }, async (_, client) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (let n = 0; ; n++) {
          const outcome = await exchange(port, agent, expectation(client, n), `${client}-${n}`);
          outcomes.push(outcome);
          if (outcome.kind === 'refused') return; // the listener is closed: this client is done
        }
      } finally {
        agent.destroy();
      }
    });

    await within(Promise.all(slow.map((s) => s.arrived)), 10_000, 'the slow requests did not reach the API server');
    await expect
      .poll(() => outcomes.filter((o) => o.kind === 'completed').length, { timeout: 30_000 })
      .toBeGreaterThanOrEqual(500);
    const finishedBeforeSignal = outcomes.length;
    ambassador.child.kill('SIGTERM');
    await ambassador.waitForLog((line) => line.msg === 'shutting down: finishing in-flight requests');
    release.resolve();

    const slowOutcomes = await Promise.all(slow.map((s) => s.answer));
    await within(Promise.all(clients), 30_000, 'the load clients did not finish');
    const watchOutcomes = await Promise.all(watches);
    expect(await ambassador.exited).toBe(0);

    expect(slowOutcomes.map((o) => o.kind)).toEqual(Array<string>(SLOW).fill('completed'));
    expect(watchOutcomes.every((w) => w.ended && w.body.includes('"name":"web"'))).toBe(true);
    expect(cluster.api.openWatches()).toBe(0);
    expect(ambassador.logs.some((line) => line.msg === 'grace period over: closed requests still in flight')).toBe(
      false,
    );

    const failures = outcomes.filter((o) => o.kind === 'wrong' || o.kind === 'broken');
    expect(failures).toEqual([]);
    // A request that failed before any answer must never have been taken: the API server never saw it.
    const seenUpstream = new Set(cluster.api.requests.map((r) => `${r.method} ${r.url}`));
    const notAnswered = outcomes.filter((o) => o.kind === 'refused' || o.kind === 'dropped');
    const lostAfterAcceptance = notAnswered.filter((o) => {
      const [client = 0, n = 0] = o.id.split('-').map(Number);
      const expected = expectation(client, n);
      return seenUpstream.has(`${expected.method} ${expected.path}`);
    });
    expect(lostAfterAcceptance).toEqual([]);
    expect(outcomes.filter((o) => o.kind === 'refused')).toHaveLength(CLIENTS); // each client stopped at a refused connect
    const completed = outcomes.filter((o) => o.kind === 'completed').length;
    const dropped = outcomes.flatMap((o) => (o.kind === 'dropped' ? [o] : []));
    console.info(
      `SIGTERM under load: ${completed} requests completed (${outcomes.length - finishedBeforeSignal} finished after the signal), ` +
        `${SLOW} slow answers completed after it, ${WATCHES} watches ended cleanly; refused at connect: ${CLIENTS}; ` +
        `closed before being read: ${dropped.length} (${[...new Set(dropped.map((o) => o.code))].join(', ')})`,
    );
  }
});
