/**
 * HTTP/2 to the API server: requests and watches share one connection, a client that stops reading
 * holds back only its own stream, GOAWAY loses nothing, a dead or silent connection ends its watches
 * cleanly, a server without HTTP/2 gets HTTP/1.1, and a CA rotation moves new streams to a new connection.
 */
import { writeFile } from 'node:fs/promises';
import { Agent, request, type IncomingMessage } from 'node:http';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { STREAM_WINDOW } from '../../src/cluster/upstream.ts';
import { startAmbassador, type RunningAmbassador } from '../support/ambassador.ts';
import { tcpBufferMax, within } from '../support/bounds.ts';
import { pattern, scriptLargeAnswer, untilStalledOrFinished } from '../support/large-answer.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { createPki } from '../support/pki.ts';
import { send } from '../support/http.ts';

let cluster: TestCluster | undefined;
let ambassador: RunningAmbassador | undefined;
let relay: Relay | undefined;

afterEach(async () => {
  await ambassador?.stop();
  await relay?.close();
  await cluster?.close();
  ambassador = undefined;
  relay = undefined;
  cluster = undefined;
});

async function start(
  protocol: 'h2' | 'h1',
  ...args: string[]
): Promise<{ cluster: TestCluster; ambassador: RunningAmbassador }> {
  cluster = await startTestCluster({ protocol });
  ambassador = await startAmbassador([...cluster.ambassadorArgs, ...args]);
  return { cluster, ambassador };
}

/** Polls `condition` every 10 ms until it holds; fails after `timeoutMs`. */
async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** In auto mode the first request goes over HTTP/1.1 while ALPN is probed: send until one arrives over HTTP/2. */
async function warmUp(port: number, api: TestCluster['api']): Promise<void> {
  let n = 0;
  await until('a request over HTTP/2', async () => {
    const url = `/version?warm-up=${n++}`;
    expect((await send(port, 'GET', url)).status).toBe(200);
    return (await api.waitForRequest((r) => r.url === url)).httpVersion === '2.0';
  });
}

interface Watch {
  response: IncomingMessage;
  received(): string;
  /** Resolves 'end' if the response ended cleanly, 'error' if it was cut. */
  outcome: Promise<'end' | 'error'>;
  close(): void;
}

function openWatch(port: number, path: string, agent?: Agent): Promise<Watch> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, headers: { host: 'localhost' }, ...(agent === undefined ? {} : { agent }) },
      (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        const outcome = new Promise<'end' | 'error'>((done) => {
          response.on('end', () => done('end'));
          response.on('error', () => done('error'));
          response.on('aborted', () => done('error'));
        });
        resolve({ response, received: () => body, outcome, close: () => req.destroy() });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const MiB = 1024 * 1024;

/** A raw client connection that sent GET `path`, read the response head, and stopped reading. */
interface StalledClient {
  socket: Socket;
  head: string;
  /** Body bytes that came in with the head. */
  bodyBytes: number;
}

function requestAndStopReading(port: number, path: string): Promise<StalledClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const headEnd = received.indexOf('\r\n\r\n');
      if (headEnd === -1) return;
      socket.pause();
      socket.off('data', onData);
      socket.off('error', reject);
      resolve({
        socket,
        head: received.subarray(0, headEnd + 4).toString('latin1'),
        bodyBytes: received.length - headEnd - 4,
      });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  });
}

/** Resumes reading and resolves with the body bytes counted once `total` have arrived (or the connection ends). */
function readRest(client: StalledClient, total: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let received = client.bodyBytes;
    if (received >= total) {
      resolve(received);
      return;
    }
    client.socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= total) resolve(received);
    });
    client.socket.once('error', reject);
    client.socket.once('end', () => resolve(received));
    client.socket.resume();
  });
}

/** A TCP relay in front of the API server that can go silent, as a connection whose peer vanished. */
interface Relay {
  port: number;
  /** Stops carrying bytes both ways; the connections stay open. */
  freeze(): void;
  close(): Promise<void>;
}

async function startRelay(targetPort: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  let frozen = false;
  const server: Server = createServer((inbound) => {
    const outbound = connect(targetPort, '127.0.0.1');
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.once('close', () => sockets.delete(socket));
    }
    inbound.on('data', (chunk: Buffer) => frozen || outbound.write(chunk));
    outbound.on('data', (chunk: Buffer) => frozen || inbound.write(chunk));
    inbound.once('close', () => outbound.destroy());
    outbound.once('close', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('relay has no port');
  return {
    port: address.port,
    freeze: () => {
      frozen = true;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Sends raw bytes and returns all that comes back until the server closes the connection. It never
 * half-closes: Node's server would end the connection on the client's FIN, cutting the answer short.
 */
function readUntilClosed(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('end', () => resolve(received));
    socket.on('error', reject);
    socket.write(bytes);
  });
}

/** A chunked HTTP/1.1 body decoded up to its final chunk, and whatever came after that (nothing, in a valid answer). */
function dechunk(raw: string): { body: string; after: string } {
  let body = '';
  let at = 0;
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', at);
    if (lineEnd === -1) throw new Error(`no final chunk in ${JSON.stringify(raw)}`);
    const size = Number.parseInt(raw.slice(at, lineEnd), 16);
    if (Number.isNaN(size)) throw new Error(`not a chunk size at ${at} of ${JSON.stringify(raw)}`);
    if (size === 0) return { body, after: raw.slice(lineEnd + 4) };
    body += raw.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
}

describe('HTTP/2 to the API server', () => {
  /** What the ambassador's /metrics says of its HTTP/2 connections to the API server. */
  async function http2ConnectionsGauge(ambassador: RunningAmbassador): Promise<number | undefined> {
    const text = await (await fetch(`${ambassador.adminUrl}/metrics`)).text();
    const value = /^kube_api_ambassador_upstream_http2_connections (\S+)$/m.exec(text)?.[1];
    return value === undefined ? undefined : Number(value);
  }

  it('sends concurrent requests as streams of one connection, after one ALPN probe', async () => {
    const { cluster, ambassador } = await start('h2');
    await warmUp(ambassador.port, cluster.api);
    const sessionsBefore = cluster.api.http2SessionsAccepted();
    expect(sessionsBefore).toBe(1);
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        send(ambassador.port, 'GET', `/api/v1/namespaces/default/pods?concurrent=${i}`),
      ),
    );
    expect(replies.every((reply) => reply.status === 200)).toBe(true);
    const seen = cluster.api.requests.filter((r) => r.url.includes('concurrent='));
    expect(seen).toHaveLength(50);
    expect(new Set(seen.map((r) => r.httpVersion))).toEqual(new Set(['2.0']));
    expect(new Set(seen.map((r) => r.clientPort)).size).toBe(1);
    expect(cluster.api.http2SessionsAccepted()).toBe(1);
    expect(ambassador.logs.some((line) => String(line.msg).includes('speaks HTTP/2'))).toBe(true);
  });

  it('streams request and response bodies both ways, and relays the answer as HTTP/1.1 headers', async () => {
    const { cluster, ambassador } = await start('h2', '--upstream-protocol', 'http2');
    const body = Buffer.alloc(3 * 1024 * 1024, 'x');
    const config = JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'big' },
      data: { big: body.toString() },
    });
    const put = await send(ambassador.port, 'PUT', '/api/v1/namespaces/default/configmaps/big', {
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      body: config,
    });
    expect(put.status).toBe(201);
    const seen = await cluster.api.waitForRequest((r) => r.method === 'PUT' && r.url.endsWith('/configmaps/big'));
    expect(seen.httpVersion).toBe('2.0');
    expect(seen.body.toString()).toBe(config);
    const got = await send(ambassador.port, 'GET', '/api/v1/namespaces/default/configmaps/big');
    expect(got.status).toBe(200);
    expect(got.text).toBe(config);
    expect(Object.keys(got.headers).some((name) => name.startsWith(':'))).toBe(false);
    expect(got.headers['content-type']).toBe('application/json');
  });

  it('carries 1,000 concurrent watches over one connection, and a client that leaves cancels only its stream', async () => {
    const { cluster, ambassador } = await start('h2', '--upstream-protocol', 'http2');
    // Until a connection's SETTINGS arrive it is given at most 100 streams (nghttp2's assumption):
    // a proxy that has served anything knows the server's limit (here, Node's: unlimited).
    expect((await send(ambassador.port, 'GET', '/version')).status).toBe(200);
    const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
    const watches = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        openWatch(ambassador.port, `/api/v1/namespaces/default/pods?watch=true&w=${i}`, agent),
      ),
    );
    await until('1,000 watches upstream', () => cluster.api.openWatches() === 1000);
    const seen = cluster.api.requests.filter((r) => r.url.includes('watch=true&w='));
    expect(new Set(seen.map((r) => r.httpVersion))).toEqual(new Set(['2.0']));
    expect(new Set(seen.map((r) => r.clientPort)).size).toBe(1);
    expect(cluster.api.http2SessionsAccepted()).toBe(1);
    expect(await http2ConnectionsGauge(ambassador)).toBe(1);
    cluster.api.putPod('default', 'seen-by-all');
    await until('the event on every watch', () => watches.every((watch) => watch.received().includes('seen-by-all')));
    watches[0]?.close();
    await until('the upstream watch cancelled', () => cluster.api.openWatches() === 999);
    expect(cluster.api.openHttp2Sessions()).toBe(1);
    for (const watch of watches) watch.close();
    await until('every upstream watch cancelled', () => cluster.api.openWatches() === 0);
    expect(cluster.api.openHttp2Sessions()).toBe(1);
    agent.destroy();
  }, 60_000);

  it('holds back only the stream of a client that stops reading: requests, a large answer and a watch on the same connection still flow', async () => {
    const { cluster, ambassador } = await start('h2', '--upstream-protocol', 'http2');
    cluster.api.putPod('default', 'web');
    // What a stalled stream can leave in flight: its window in the proxy, then the proxy's socket to the
    // client (send buffer) and the client's (receive buffer), plus a few writable buffers of 16-64 KiB.
    // (Node's client returns connection-level credit as DATA arrives, whether or not the stream is read:
    // it is the stream window and per-stream back-pressure that hold this client back alone.)
    const bound = STREAM_WINDOW + tcpBufferMax('tcp_rmem') + tcpBufferMax('tcp_wmem') + MiB;
    // Twice the bound, so a proxy that buffered the whole answer could not pass.
    const stalledTotal = Math.max(64 * MiB, 2 * Math.ceil(bound / MiB) * MiB);
    const flowingTotal = 4 * MiB;
    const stalledPath = '/api/v1/namespaces/default/configmaps/stalled';
    const flowingPath = '/api/v1/namespaces/default/configmaps/flowing';
    const stalledWriter = scriptLargeAnswer(cluster.api, stalledPath, stalledTotal);
    const flowingWriter = scriptLargeAnswer(cluster.api, flowingPath, flowingTotal);

    const stalled = await requestAndStopReading(ambassador.port, stalledPath);
    try {
      expect(stalled.head).toMatch(new RegExp(`^HTTP/1\\.1 200 [^]*\\r\\ncontent-length: ${stalledTotal}\\r\\n`, 'i'));
      await untilStalledOrFinished(stalledWriter, 20_000);
      const writtenWhileStalled = stalledWriter.written;
      expect(writtenWhileStalled, 'bytes the API server wrote for the client that stopped reading').toBeLessThanOrEqual(
        bound,
      );
      expect(stalledWriter.finished).toBe(false);
      expect(cluster.api.http2SessionsAccepted()).toBe(1);
      expect(cluster.api.openHttp2Sessions()).toBe(1);

      // Meanwhile, on the same connection: 20 requests, a 4 MiB answer read to its end, and a new watch.
      const pods = await within(
        Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            send(ambassador.port, 'GET', `/api/v1/namespaces/default/pods/web?while-stalled=${i}`),
          ),
        ),
        15_000,
        'the 20 pod requests did not complete while one stream was stalled',
      );
      expect(pods.map((reply) => reply.status)).toEqual(Array.from({ length: 20 }, () => 200));
      expect(pods.every((reply) => (reply.json() as { metadata: { name: string } }).metadata.name === 'web')).toBe(
        true,
      );
      const flowing = await within(
        send(ambassador.port, 'GET', flowingPath),
        15_000,
        'the 4 MiB answer did not complete while one stream was stalled',
      );
      expect(flowing.status).toBe(200);
      expect(flowing.body.length).toBe(flowingTotal);
      expect(flowing.body.equals(pattern(flowingTotal))).toBe(true);
      expect(flowingWriter.finished).toBe(true);
      const watch = await openWatch(ambassador.port, '/api/v1/namespaces/default/pods?watch=true&while-stalled=1');
      await until('the watch upstream while one stream was stalled', () => cluster.api.openWatches() === 1);
      cluster.api.putPod('default', 'while-stalled');
      await until('the event on the watch while one stream was stalled', () =>
        watch.received().includes('"name":"while-stalled"'),
      );
      watch.close();

      // All of it shared the stalled stream's connection, which stayed held back meanwhile.
      const seen = cluster.api.requests.filter((r) => r.url.includes('stalled') || r.url.includes('flowing'));
      expect(seen).toHaveLength(23);
      expect(new Set(seen.map((r) => r.httpVersion))).toEqual(new Set(['2.0']));
      expect(new Set(seen.map((r) => r.clientPort)).size).toBe(1);
      expect(cluster.api.http2SessionsAccepted()).toBe(1);
      expect(stalledWriter.written).toBe(writtenWhileStalled);

      // The client reads again and gets every byte; the writer finishes.
      const received = await within(
        readRest(stalled, stalledTotal),
        30_000,
        'the stalled client did not get its whole answer once it read again',
      );
      expect(received).toBe(stalledTotal);
      expect(stalledWriter.finished).toBe(true);
      console.info(
        `stalled stream: the API server wrote ${(writtenWhileStalled / MiB).toFixed(2)} MiB of ${stalledTotal / MiB} MiB before stalling ` +
          `(bound ${(bound / MiB).toFixed(2)} MiB: stream window ${STREAM_WINDOW / 1024} KiB + tcp_rmem max ${(tcpBufferMax('tcp_rmem') / MiB).toFixed(1)} MiB ` +
          `+ tcp_wmem max ${(tcpBufferMax('tcp_wmem') / MiB).toFixed(1)} MiB + 1 MiB); meanwhile 20 pods, ${flowingTotal / MiB} MiB and a watch event ` +
          `on the same connection (sessions accepted: ${cluster.api.http2SessionsAccepted()}); then ${received} bytes delivered`,
      );
    } finally {
      stalled.socket.destroy();
    }
  }, 90_000);

  it('relays a watch whose last events and end arrive in one read in order: every event, then the final chunk', async () => {
    const { cluster, ambassador } = await start('h2', '--upstream-protocol', 'http2');
    const events = ['ADDED', 'MODIFIED', 'DELETED'].map(
      (type) => `${JSON.stringify({ type, object: { kind: 'Pod', metadata: { name: 'last-words' } } })}\n`,
    );
    const path = '/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1';
    // As at a watch's timeout: the API server writes its last events and ends the stream at once.
    cluster.api.script((_, url) => url === path, {
      respond: (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        for (const event of events) response.write(event);
        response.end();
      },
    });
    for (let round = 0; round < 20; round++) {
      const raw = await readUntilClosed(
        ambassador.port,
        `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
      );
      const head = raw.slice(0, raw.indexOf('\r\n\r\n') + 4);
      expect(head).toMatch(/^HTTP\/1\.1 200 [^]*\r\ntransfer-encoding: chunked\r\n/i);
      expect(dechunk(raw.slice(head.length))).toEqual({ body: events.join(''), after: '' });
    }
  });

  it('loses no request when the API server sends GOAWAY every 20 streams (as nginx after keepalive_requests)', async () => {
    const { cluster, ambassador } = await start('h2', '--upstream-protocol', 'http2');
    cluster.api.setGoawayAfterStreams(20);
    const statuses: number[] = [];
    // 16 at a time, as a busy client: streams opened while a GOAWAY is on the wire are refused and resent.
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < 400) {
          const i = next++;
          statuses.push((await send(ambassador.port, 'GET', `/api/v1/namespaces/default/pods?goaway=${i}`)).status);
        }
      }),
    );
    expect(statuses).toHaveLength(400);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(cluster.api.http2SessionsAccepted()).toBeGreaterThanOrEqual(20);
    expect(ambassador.logs.filter((line) => line.level === 'warn' || line.level === 'error')).toEqual([]);
  });

  it('keeps a watch streaming on a connection that received GOAWAY, and sends new streams to a new one', async () => {
    const { cluster, ambassador } = await start('h2', '--upstream-protocol', 'http2');
    const watch = await openWatch(ambassador.port, '/api/v1/namespaces/default/pods?watch=true');
    await until('the watch upstream', () => cluster.api.openWatches() === 1);
    cluster.api.goawayAll();
    expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods?after-goaway=1')).status).toBe(200);
    expect(cluster.api.http2SessionsAccepted()).toBe(2);
    cluster.api.putPod('default', 'after-goaway');
    await until('the event on the old connection', () => watch.received().includes('after-goaway'));
    watch.close();
  });

  it('ends a watch cleanly when its connection dies, and serves again once the API server is back', async () => {
    const { cluster, ambassador } = await start('h2', '--upstream-protocol', 'http2');
    const watch = await openWatch(ambassador.port, '/api/v1/namespaces/default/pods?watch=true');
    await until('the watch upstream', () => cluster.api.openWatches() === 1);
    await cluster.api.stop();
    expect(await watch.outcome).toBe('end');
    await cluster.api.start();
    expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods?back=1')).status).toBe(200);
  });

  it('notices a silent connection by PING and ends its watches cleanly', async () => {
    cluster = await startTestCluster({ protocol: 'h2' });
    relay = await startRelay(cluster.api.port);
    const args = [...cluster.ambassadorArgs];
    args[args.indexOf('--server') + 1] = `https://127.0.0.1:${relay.port}`;
    ambassador = await startAmbassador([...args, '--upstream-protocol', 'http2', '--keepalive', '500ms']);
    const watch = await openWatch(ambassador.port, '/api/v1/namespaces/default/pods?watch=true');
    await until('the watch upstream', () => cluster?.api.openWatches() === 1);
    const frozenAt = Date.now();
    relay.freeze();
    expect(await watch.outcome).toBe('end');
    // A PING goes out within 500 ms and its answer is awaited 500 ms: about a second, well under TCP's own detection.
    expect(Date.now() - frozenAt).toBeLessThan(5000);
  });

  it('uses HTTP/1.1 when the API server does not offer HTTP/2, and says so once', async () => {
    const { cluster, ambassador } = await start('h1');
    for (let i = 0; i < 5; i++) expect((await send(ambassador.port, 'GET', `/version?h1=${i}`)).status).toBe(200);
    const watch = await openWatch(ambassador.port, '/api/v1/namespaces/default/pods?watch=true');
    await until('the watch upstream', () => cluster.api.openWatches() === 1);
    watch.close();
    expect(new Set(cluster.api.requests.map((r) => r.httpVersion))).toEqual(new Set(['1.1']));
    await ambassador.waitForLog((line) => String(line.msg).includes('does not offer HTTP/2'));
    expect(ambassador.logs.filter((line) => String(line.msg).includes('does not offer HTTP/2'))).toHaveLength(1);
    expect(await http2ConnectionsGauge(ambassador)).toBe(0);
  });

  it('uses HTTP/1.1 with --upstream-protocol http1.1, though the API server offers HTTP/2', async () => {
    const { cluster, ambassador } = await start('h2', '--upstream-protocol', 'http1.1');
    for (let i = 0; i < 5; i++)
      expect((await send(ambassador.port, 'GET', `/version?forced-h1=${i}`)).status).toBe(200);
    expect(new Set(cluster.api.requests.map((r) => r.httpVersion))).toEqual(new Set(['1.1']));
    expect(cluster.api.http2SessionsAccepted()).toBe(0);
  });

  it('moves new streams to a new connection when the CA rotates, letting open watches finish on the old one', async () => {
    const { cluster, ambassador } = await start(
      'h2',
      '--upstream-protocol',
      'http2',
      '--credential-refresh-interval',
      '100ms',
    );
    const watch = await openWatch(ambassador.port, '/api/v1/namespaces/default/pods?watch=true');
    await until('the watch upstream', () => cluster.api.openWatches() === 1);
    expect(cluster.api.http2SessionsAccepted()).toBe(1);
    const rotated = await createPki(cluster.dir, 'rotated');
    cluster.api.setCertificate(rotated.certPem, rotated.keyPem);
    await writeFile(cluster.pki.caFile, rotated.caPem);
    await ambassador.waitForLog((line) => String(line.msg).includes('CA or client certificate changed'));
    expect((await send(ambassador.port, 'GET', '/version?after=ca-rotation')).status).toBe(200);
    expect(cluster.api.http2SessionsAccepted()).toBe(2);
    cluster.api.putPod('default', 'after-rotation');
    await until('the event on the old connection', () => watch.received().includes('after-rotation'));
    watch.close();
    await until('the old connection closed once idle', () => cluster.api.openHttp2Sessions() === 1);
  });
});
