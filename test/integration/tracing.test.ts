/**
 * Tracing across the door: a client's W3C trace context goes on to the API server with the
 * ambassador's span in between, the span is exported over OTLP/HTTP (decoded here by a local
 * receiver) and named in the audit event. With tracing off, the client's headers pass unchanged
 * and no OpenTelemetry SDK code is loaded.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, startAmbassador, type LogLine, type RunningAmbassador } from '../support/ambassador.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { send } from '../support/http.ts';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.ts';
import { release } from '../support/teardown.ts';

const PROBE = new URL('../support/module-probe.ts', import.meta.url).pathname;
/** The preloaded probe writes each OpenTelemetry module the process resolves to stderr. */
const env = (extra: Record<string, string> = {}): Record<string, string> =>
  cleanEnv({ NODE_OPTIONS: `--import ${PROBE}`, ...extra });
/** Spans are exported in batches; a short delay keeps the tests quick (the standard OTEL_BSP_SCHEDULE_DELAY). */
const QUICK_EXPORT = { OTEL_BSP_SCHEDULE_DELAY: '20' };
const SPAN_KIND_SERVER = 2;
const STATUS_ERROR = 2;

let cluster: TestCluster;
let receiver: OtlpReceiver;
/** --tracing-sampling-rate-per-million left at 0: only what the client sampled is recorded. */
let traced: RunningAmbassador;
/** --tracing-sampling-rate-per-million 1000000: every trace is recorded. */
let sampleAll: RunningAmbassador;
let untraced: RunningAmbassador;

beforeAll(async () => {
  cluster = await startTestCluster();
  receiver = await startOtlpReceiver();
  [traced, sampleAll, untraced] = await Promise.all([
    startAmbassador(
      [...cluster.ambassadorArgs, '--tracing-endpoint', receiver.url],
      env({ ...QUICK_EXPORT, OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=web-0' }),
    ),
    startAmbassador(
      [...cluster.ambassadorArgs, '--tracing-endpoint', receiver.url, '--tracing-sampling-rate-per-million', '1000000'],
      env(QUICK_EXPORT),
    ),
    startAmbassador(cluster.ambassadorArgs, env()),
  ]);
}, 30_000);

afterAll(async () => {
  await Promise.all([release(traced), release(sampleAll), release(untraced)]);
  await release(receiver, cluster);
});

interface ClientContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceparent: string;
}

function clientContext(sampled: boolean): ClientContext {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}` };
}

/** The traceparent the API server received for the request made with this User-Agent. */
async function upstreamTraceparent(
  userAgent: string,
): Promise<{ traceparent: string; tracestate: unknown; auditId: unknown }> {
  const request = await cluster.api.waitForRequest((r) => r.headers['user-agent'] === userAgent);
  return {
    traceparent: String(request.headers['traceparent']),
    tracestate: request.headers['tracestate'],
    auditId: request.headers['audit-id'],
  };
}

function auditEvent(ambassador: RunningAmbassador, userAgent: string): Promise<LogLine> {
  return ambassador.waitForLog((line) => line['kind'] === 'Event' && line['userAgent'] === userAgent);
}

/** Sends an upgrade request, waits for the 101's head, then closes the session; resolves with the head. */
function openAndCloseSession(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(received.slice(0, received.indexOf('\r\n\r\n')));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
    socket.write(request);
  });
}

function spanOf(traceId: string): Promise<ReceivedSpan> {
  return receiver.waitForSpan((span) => span.traceId === traceId);
}

describe('with --tracing-endpoint', () => {
  it("continues the client's trace to the API server, with the ambassador's span in between, exported over OTLP", async () => {
    const client = clientContext(true);
    const res = await send(traced.port, 'GET', '/api/v1/namespaces/team-a/pods', {
      headers: { traceparent: client.traceparent, tracestate: 'vendor=opaque', 'user-agent': 'trace-list' },
    });
    expect(res.status).toBe(200);

    const upstream = await upstreamTraceparent('trace-list');
    const [, traceId, parentId, flags] =
      /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(upstream.traceparent) ?? [];
    expect(traceId).toBe(client.traceId);
    expect(parentId).not.toBe(client.spanId);
    expect(flags).toBe('01');
    expect(upstream.tracestate).toBe('vendor=opaque');

    const span = await spanOf(client.traceId);
    expect(span).toMatchObject({
      spanId: parentId,
      parentSpanId: client.spanId,
      traceState: 'vendor=opaque',
      name: 'list pods',
      kind: SPAN_KIND_SERVER,
      statusCode: 0,
      scope: 'kube-api-ambassador',
    });
    expect(span.attributes).toEqual({
      'http.request.method': 'GET',
      'http.response.status_code': 200,
      'k8s.request.verb': 'list',
      'k8s.request.resource': 'pods',
      'k8s.request.namespace': 'team-a',
      'kube_api_ambassador.decision': 'allow',
      'kube_api_ambassador.audit_id': upstream.auditId,
    });
    expect(span.resource).toMatchObject({ 'service.name': 'kube-api-ambassador', 'k8s.pod.name': 'web-0' });

    const event = await auditEvent(traced, 'trace-list');
    expect(event['annotations']).toMatchObject({ 'kube-api-ambassador/trace-id': client.traceId });
  });

  it("records a refused request's decision and status on its span; nothing goes upstream", async () => {
    const client = clientContext(true);
    const res = await send(traced.port, 'GET', '/api/v1/namespaces/team-a/pods/web/exec?command=sh', {
      headers: { traceparent: client.traceparent, 'user-agent': 'trace-exec' },
    });
    expect(res.status).toBe(403);
    const span = await spanOf(client.traceId);
    expect(span.parentSpanId).toBe(client.spanId);
    expect(span.name).toBe('get pods/exec');
    expect(span.attributes).toMatchObject({
      'http.response.status_code': 403,
      'k8s.request.resource': 'pods',
      'k8s.request.subresource': 'exec',
      'k8s.request.name': 'web',
      'kube_api_ambassador.decision': 'deny',
    });
    expect(cluster.api.requests.some((r) => r.headers['user-agent'] === 'trace-exec')).toBe(false);
  });

  it('marks a span whose request the API server failed as an error', async () => {
    cluster.api.script(
      (method, url) => method === 'GET' && url.startsWith('/api/v1/namespaces/team-a/configmaps/broken'),
      { status: 503, body: '{}' },
    );
    const client = clientContext(true);
    const res = await send(traced.port, 'GET', '/api/v1/namespaces/team-a/configmaps/broken', {
      headers: { traceparent: client.traceparent },
    });
    expect(res.status).toBe(503);
    const span = await spanOf(client.traceId);
    expect(span.statusCode).toBe(STATUS_ERROR);
    expect(span.attributes['http.response.status_code']).toBe(503);
  });

  it("follows an unsampled client: the API server gets the ambassador's span id, unsampled, and nothing is exported", async () => {
    const unsampled = clientContext(false);
    await send(traced.port, 'GET', '/api/v1/namespaces/team-a/pods/web', {
      headers: { traceparent: unsampled.traceparent, 'user-agent': 'trace-unsampled' },
    });
    const upstream = await upstreamTraceparent('trace-unsampled');
    expect(upstream.traceparent).toMatch(
      new RegExp(`^00-${unsampled.traceId}-(?!${unsampled.spanId})[0-9a-f]{16}-00$`),
    );
    // A sampled request after it: once its span arrives, the unsampled one would have come before it.
    const sampled = clientContext(true);
    await send(traced.port, 'GET', '/api/v1/namespaces/team-a/pods/web', {
      headers: { traceparent: sampled.traceparent },
    });
    await spanOf(sampled.traceId);
    expect(receiver.spans.filter((span) => span.traceId === unsampled.traceId)).toEqual([]);
  });

  it('starts a trace for a request without one; at the default rate of 0 it is not recorded, but the audit event names it', async () => {
    await send(traced.port, 'GET', '/version', { headers: { 'user-agent': 'trace-none' } });
    const upstream = await upstreamTraceparent('trace-none');
    const [, traceId] = /^00-([0-9a-f]{32})-[0-9a-f]{16}-00$/.exec(upstream.traceparent) ?? [];
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const event = await auditEvent(traced, 'trace-none');
    expect(event['annotations']).toMatchObject({ 'kube-api-ambassador/trace-id': traceId });
  });

  it('records a root span for a request without a trace when the sampling rate is a million per million', async () => {
    await send(sampleAll.port, 'GET', '/version', { headers: { 'user-agent': 'trace-root' } });
    const upstream = await upstreamTraceparent('trace-root');
    const [, traceId, spanId] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(upstream.traceparent) ?? [];
    const span = await spanOf(traceId ?? 'none');
    expect(span).toMatchObject({ spanId, parentSpanId: '', name: 'get /version' });
    expect(span.attributes).toMatchObject({
      'k8s.request.verb': 'get',
      'url.path': '/version',
      'http.response.status_code': 200,
    });
  });

  it('replaces an invalid client traceparent (and its tracestate) with a new trace', async () => {
    await send(traced.port, 'GET', '/version', {
      headers: { traceparent: '00-not-a-trace-01', tracestate: 'vendor=x', 'user-agent': 'trace-invalid' },
    });
    const upstream = await upstreamTraceparent('trace-invalid');
    expect(upstream.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(upstream.tracestate).toBeUndefined();
  });

  it('puts its span between the client and the API server for an upgrade too, ended when the session ends', async () => {
    const client = clientContext(true);
    const head = await openAndCloseSession(
      traced.port,
      'GET /api/v1/namespaces/team-a/pods/web/portforward?ports=8080 HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io\r\n' +
        `traceparent: ${client.traceparent}\r\nUser-Agent: trace-upgrade\r\n\r\n`,
    );
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    const upstream = await upstreamTraceparent('trace-upgrade');
    const span = await spanOf(client.traceId);
    expect(upstream.traceparent).toBe(`00-${client.traceId}-${span.spanId}-01`);
    expect(span).toMatchObject({ parentSpanId: client.spanId, name: 'get pods/portforward' });
    expect(span.attributes).toMatchObject({
      'http.response.status_code': 101,
      'k8s.request.subresource': 'portforward',
      'kube_api_ambassador.decision': 'allow',
    });
  });

  it('exports the spans still buffered when it stops', async () => {
    // The default batch delay (5 s) would not send the span before the process exits: only shutdown does.
    const stopping = await startAmbassador([...cluster.ambassadorArgs, '--tracing-endpoint', receiver.url], cleanEnv());
    const client = clientContext(true);
    try {
      await send(stopping.port, 'GET', '/version', { headers: { traceparent: client.traceparent } });
    } finally {
      expect(await stopping.stop()).toBe(0);
    }
    expect(receiver.spans.some((span) => span.traceId === client.traceId)).toBe(true);
  });

  it('keeps serving when the collector refuses the spans, and says so in its log', async () => {
    const refused = await startAmbassador(
      [
        ...cluster.ambassadorArgs,
        '--tracing-endpoint',
        receiver.url.replace('/v1/traces', '/refused'),
        '--tracing-sampling-rate-per-million',
        '1000000',
      ],
      cleanEnv(QUICK_EXPORT),
    );
    try {
      expect((await send(refused.port, 'GET', '/version')).status).toBe(200);
      const warning = await refused.waitForLog((line) => line.msg === 'cannot export request spans');
      expect(warning).toMatchObject({ level: 'warn', endpoint: receiver.url.replace('/v1/traces', '/refused') });
      expect((await send(refused.port, 'GET', '/version')).status).toBe(200);
    } finally {
      expect(await refused.stop()).toBe(0);
    }
  });

  it('stops cleanly while a collector holds its last spans without answering', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/v1/traces`;
    // The exporter would wait a minute for it: longer than this test may take.
    const patient = { OTEL_EXPORTER_OTLP_TIMEOUT: '60000', OTEL_BSP_EXPORT_TIMEOUT: '60000' };
    const held = await startAmbassador(
      [...cluster.ambassadorArgs, '--tracing-endpoint', endpoint, '--tracing-sampling-rate-per-million', '1000000'],
      cleanEnv(patient),
    );
    try {
      expect((await send(held.port, 'GET', '/version')).status).toBe(200);
      expect(await held.stop()).toBe(0);
    } finally {
      await held.stop('SIGKILL');
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('loads the OpenTelemetry SDK', () => {
    expect(traced.stderr()).toContain('/node_modules/@opentelemetry/sdk-trace-base/');
  });
});

describe('without --tracing-endpoint (the default)', () => {
  it("forwards the client's traceparent and tracestate unchanged, and the audit event has no trace annotation", async () => {
    const client = clientContext(true);
    await send(untraced.port, 'GET', '/api/v1/namespaces/team-a/pods', {
      headers: { traceparent: client.traceparent, tracestate: 'vendor=opaque', 'user-agent': 'untraced' },
    });
    const upstream = await upstreamTraceparent('untraced');
    expect(upstream.traceparent).toBe(client.traceparent);
    expect(upstream.tracestate).toBe('vendor=opaque');
    const event = await auditEvent(untraced, 'untraced');
    expect(event['annotations']).not.toHaveProperty(['kube-api-ambassador/trace-id']);
  });

  it('loads no OpenTelemetry code but the API package prom-client uses for its exemplars', () => {
    const probed = untraced
      .stderr()
      .split('\n')
      .filter((line) => line.startsWith('module-probe: '));
    expect(probed[0]).toBe('module-probe: ready');
    expect(probed.slice(1).filter((line) => !line.includes('/node_modules/@opentelemetry/api/'))).toEqual([]);
  });
});
