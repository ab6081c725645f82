/**
 * HTTP/2 to the API server: requests and watches share one connection, GOAWAY loses nothing,
 * a dead or silent connection ends its watches cleanly, a server without HTTP/2 gets HTTP/1.1,
 * and a CA rotation moves new streams to a new connection.
 */
import { writeFile } from 'node:fs/promises';
import { Agent, request, type IncomingMessage } from 'node:http';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startAmbassador, type RunningAmbassador } from '../support/ambassador.ts';
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

async function start(protocol: 'h2' | 'h1', ...args: string[]): Promise<{ cluster: TestCluster; ambassador: RunningAmbassador }> {
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
    const req = request({ host: '127.0.0.1', port, path, headers: { host: 'localhost' }, ...(agent === undefined ? {} : { agent }) }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      const outcome = new Promise<'end' | 'error'>((done) => {
        response.on('end', () => done('end'));
        response.on('error', () => done('error'));
        response.on('aborted', () => done('error'));
      });
      resolve({ response, received: () => body, outcome, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
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

describe('HTTP/2 to the API server', () => {
  it('sends concurrent requests as streams of one connection, after one ALPN probe', async () => {
    const { cluster, ambassador } = await start('h2');
    await warmUp(ambassador.port, cluster.api);
    const sessionsBefore = cluster.api.http2SessionsAccepted();
    expect(sessionsBefore).toBe(1);
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => send(ambassador.port, 'GET', `/api/v1/namespaces/default/pods?concurrent=${i}`)));
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
    const config = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big' }, data: { big: body.toString() } });
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
      Array.from({ length: 1000 }, (_, i) => openWatch(ambassador.port, `/api/v1/namespaces/default/pods?watch=true&w=${i}`, agent)),
    );
    await until('1,000 watches upstream', () => cluster.api.openWatches() === 1000);
    const seen = cluster.api.requests.filter((r) => r.url.includes('watch=true&w='));
    expect(new Set(seen.map((r) => r.httpVersion))).toEqual(new Set(['2.0']));
    expect(new Set(seen.map((r) => r.clientPort)).size).toBe(1);
    expect(cluster.api.http2SessionsAccepted()).toBe(1);
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
  });

  it('uses HTTP/1.1 with --upstream-protocol http1.1, though the API server offers HTTP/2', async () => {
    const { cluster, ambassador } = await start('h2', '--upstream-protocol', 'http1.1');
    for (let i = 0; i < 5; i++) expect((await send(ambassador.port, 'GET', `/version?forced-h1=${i}`)).status).toBe(200);
    expect(new Set(cluster.api.requests.map((r) => r.httpVersion))).toEqual(new Set(['1.1']));
    expect(cluster.api.http2SessionsAccepted()).toBe(0);
  });

  it('moves new streams to a new connection when the CA rotates, letting open watches finish on the old one', async () => {
    const { cluster, ambassador } = await start('h2', '--upstream-protocol', 'http2', '--credential-refresh-interval', '100ms');
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
    await until('the old connection closed once idle', () => cluster?.api.openHttp2Sessions() === 1);
  });
});
