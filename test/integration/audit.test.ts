import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { unsignedJwt } from '../support/requests.ts';
import { cleanEnv, startAmbassador, type RunningAmbassador } from '../support/ambassador.ts';
import { parseAuditEvent } from '../support/audit-schema.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { send } from '../support/http.ts';
import { kubectl, writeProxyKubeconfig } from '../support/kubectl.ts';
import { release } from '../support/teardown.ts';

type AuditEvent = Record<string, unknown> & { auditID: string; stage: string; requestURI: string; userAgent?: string };

function jwt(claims: Record<string, unknown>): string {
  return unsignedJwt(claims, { alg: 'RS256', kid: 'k' }, 'c2lnbmF0dXJlLXNlY3JldA');
}

const TOKEN = jwt({
  sub: 'system:serviceaccount:team-a:analytics',
  exp: Math.floor(Date.now() / 1000) + 3600,
  'kubernetes.io': { namespace: 'team-a', serviceaccount: { name: 'analytics', uid: '8c1f-uid' } },
});
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const MICROSECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

let cluster: TestCluster;
let ambassador: RunningAmbassador;
let auditFile: string;

beforeAll(async () => {
  cluster = await startTestCluster();
  await cluster.rotateToken(TOKEN);
  auditFile = join(cluster.dir, 'audit.log');
  ambassador = await startAmbassador([...cluster.ambassadorArgs, '--audit-log-path', auditFile, '--reject-paths', '']);
  cluster.api.putPod('team-a', 'web');
});

afterAll(() => release(ambassador, cluster));

async function events(): Promise<AuditEvent[]> {
  const text = await readFile(auditFile, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => parseAuditEvent<AuditEvent>(line));
}

/** The events written for requests made with this User-Agent (the log is written asynchronously). */
async function eventsFor(userAgent: string, count: number): Promise<AuditEvent[]> {
  await expect
    .poll(async () => (await events()).filter((event) => event.userAgent === userAgent).length, { timeout: 5000 })
    .toBe(count);
  return (await events()).filter((event) => event.userAgent === userAgent);
}

describe('audit events in the Kubernetes audit format', () => {
  it('writes one Metadata event per request, field by field, with the Audit-ID the API server received', async () => {
    const res = await send(ambassador.port, 'GET', '/api/v1/namespaces/team-a/pods/web', {
      headers: { 'user-agent': 'audit-get', 'audit-id': 'client-chosen' },
    });
    expect(res.status).toBe(200);
    const [event] = await eventsFor('audit-get', 1);
    const upstream = await cluster.api.waitForRequest((r) => r.headers['user-agent'] === 'audit-get');
    expect(event).toEqual({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: upstream.headers['audit-id'],
      stage: 'ResponseComplete',
      requestURI: '/api/v1/namespaces/team-a/pods/web',
      verb: 'get',
      user: {
        username: 'system:serviceaccount:team-a:analytics',
        uid: '8c1f-uid',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated'],
      },
      sourceIPs: ['127.0.0.1'],
      userAgent: 'audit-get',
      objectRef: { resource: 'pods', namespace: 'team-a', name: 'web', apiVersion: 'v1' },
      responseStatus: { metadata: {}, code: 200 },
      requestReceivedTimestamp: expect.stringMatching(MICROSECONDS) as unknown,
      stageTimestamp: expect.stringMatching(MICROSECONDS) as unknown,
      annotations: { 'kube-api-ambassador/decision': 'allow', 'kube-api-ambassador/client-audit-id': 'client-chosen' },
    });
    expect(event?.auditID).toMatch(UUID);
  });

  it('writes a list as a list, with the collection as its objectRef', async () => {
    expect(
      (
        await send(ambassador.port, 'GET', '/api/v1/namespaces/team-a/pods?labelSelector=app%3Dweb', {
          headers: { 'user-agent': 'audit-list' },
        })
      ).status,
    ).toBe(200);
    const [event] = await eventsFor('audit-list', 1);
    expect(event).toMatchObject({
      level: 'Metadata',
      stage: 'ResponseComplete',
      requestURI: '/api/v1/namespaces/team-a/pods?labelSelector=app%3Dweb',
      verb: 'list',
      objectRef: { resource: 'pods', namespace: 'team-a', apiVersion: 'v1' },
      responseStatus: { metadata: {}, code: 200 },
    });
    expect(event?.['objectRef']).not.toHaveProperty('name');
  });

  it('writes ResponseStarted and ResponseComplete for a watch', async () => {
    const watch = request({
      host: '127.0.0.1',
      port: ambassador.port,
      path: '/api/v1/namespaces/team-a/pods?watch=1',
      headers: { host: 'localhost', 'user-agent': 'audit-watch' },
    });
    const opened = new Promise<void>((resolve) => watch.on('response', () => resolve()));
    watch.on('error', () => undefined).end();
    await opened;
    const [started] = await eventsFor('audit-watch', 1);
    expect(started).toMatchObject({
      stage: 'ResponseStarted',
      verb: 'watch',
      objectRef: { resource: 'pods', namespace: 'team-a' },
    });
    expect(started).not.toHaveProperty('responseStatus');
    watch.destroy();
    const [, completed] = await eventsFor('audit-watch', 2);
    expect(completed).toMatchObject({ stage: 'ResponseComplete', auditID: started?.auditID, verb: 'watch' });
  });

  it('records a create, a denied request, an upstream failure and a malformed one', async () => {
    await send(ambassador.port, 'POST', '/api/v1/namespaces/team-a/configmaps', {
      headers: { 'user-agent': 'audit-create', 'content-type': 'application/json' },
      body: '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings"},"data":{"password":"hunter2"}}',
    });
    const [created] = await eventsFor('audit-create', 1);
    expect(created).toMatchObject({
      verb: 'create',
      objectRef: { resource: 'configmaps', namespace: 'team-a', apiVersion: 'v1' },
      responseStatus: { code: 201 },
    });
    expect(JSON.stringify(created)).not.toContain('hunter2'); // Metadata level carries no bodies

    await send(ambassador.port, 'GET', '/version', { headers: { 'user-agent': 'audit-denied', host: 'evil.example' } });
    const [denied] = await eventsFor('audit-denied', 1);
    expect(denied).toMatchObject({
      verb: 'get',
      responseStatus: {
        code: 403,
        status: 'Failure',
        message: expect.stringContaining('is not an accepted local name') as unknown,
      },
      annotations: { 'kube-api-ambassador/decision': 'deny' },
    });

    cluster.api.script((_, url) => url === '/api/v1/namespaces/team-a/pods/gone', 'reset');
    await send(ambassador.port, 'GET', '/api/v1/namespaces/team-a/pods/gone', {
      headers: { 'user-agent': 'audit-upstream' },
    });
    const [failed] = await eventsFor('audit-upstream', 1);
    expect(failed).toMatchObject({
      responseStatus: {
        code: 503,
        status: 'Failure',
        message: expect.stringContaining('was closed before it answered') as unknown,
      },
      annotations: { 'kube-api-ambassador/decision': 'allow' },
    });

    await send(ambassador.port, 'GET', '/api/v1/namespaces/team-a/pods/%2e%2e', {
      headers: { 'user-agent': 'audit-invalid' },
    });
    const [invalid] = await eventsFor('audit-invalid', 1);
    expect(invalid).toMatchObject({
      requestURI: '/api/v1/namespaces/team-a/pods/%2e%2e',
      responseStatus: { code: 400 },
      annotations: { 'kube-api-ambassador/decision': 'invalid' },
    });
    expect(invalid).not.toHaveProperty('objectRef');
  });

  it('records an exec session: started at the upgrade, complete when it ends', async () => {
    const kubeconfig = await writeProxyKubeconfig(cluster.dir, ambassador.url);
    const result = await kubectl(kubeconfig, ['exec', '-n', 'team-a', 'web', '--', 'echo', 'audited']);
    expect(result.stdout).toBe('audited\n');
    await expect
      .poll(async () => (await events()).filter((event) => event.requestURI.includes('command=audited')).length, {
        timeout: 5000,
      })
      .toBe(2);
    const session = (await events()).filter((event) => event.requestURI.includes('command=audited'));
    expect(session.map((event) => event.stage)).toEqual(['ResponseStarted', 'ResponseComplete']);
    expect(session[1]).toMatchObject({
      verb: 'get',
      objectRef: { resource: 'pods', subresource: 'exec', name: 'web' },
      responseStatus: { code: 101 },
    });
  });

  it('never writes the token, not even in part', async () => {
    const text = await readFile(auditFile, 'utf8');
    expect(text.length).toBeGreaterThan(0);
    for (const piece of TOKEN.split('.')) expect(text).not.toContain(piece);
    expect(JSON.stringify(ambassador.logs)).not.toContain(TOKEN.split('.')[2]);
  });

  it('leaves health and metrics paths out', async () => {
    await send(ambassador.port, 'GET', '/healthz', { headers: { 'user-agent': 'audit-health' } });
    await send(ambassador.port, 'GET', '/version', { headers: { 'user-agent': 'audit-version' } });
    await eventsFor('audit-version', 1);
    expect((await events()).filter((event) => event.userAgent === 'audit-health')).toEqual([]);
  });
});

describe('audit sinks', () => {
  it('writes to stdout by default, told apart from the operational log by "kind":"Event"', async () => {
    const onStdout = await startAmbassador(cluster.ambassadorArgs);
    onTestFinished(() => onStdout.stop().then(() => undefined));
    await send(onStdout.port, 'GET', '/version', { headers: { 'user-agent': 'audit-stdout' } });
    const event = await onStdout.waitForLog((line) => line['kind'] === 'Event' && line['userAgent'] === 'audit-stdout');
    expect(event).toMatchObject({ apiVersion: 'audit.k8s.io/v1', stage: 'ResponseComplete' });
    expect(onStdout.logs.filter((line) => line['kind'] !== 'Event').every((line) => typeof line.msg === 'string')).toBe(
      true,
    );
  });

  it("names the user the API server reports when the token's claims cannot be read", async () => {
    const opaque = await startTestCluster(); // its token is not a JWT: the ambassador cannot tell whose it is
    onTestFinished(() => opaque.close());
    const auditing = await startAmbassador(opaque.ambassadorArgs);
    onTestFinished(() => auditing.stop().then(() => undefined));
    await auditing.waitForLog((line) => line.level === 'info' && line['user'] === 'system:serviceaccount:team-a:app');
    await send(auditing.port, 'GET', '/version', { headers: { 'user-agent': 'audit-reported-user' } });
    const event = await auditing.waitForLog(
      (line) => line['kind'] === 'Event' && line['userAgent'] === 'audit-reported-user',
    );
    expect(event['user']).toEqual({
      username: 'system:serviceaccount:team-a:app',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated'],
    });
    expect(JSON.stringify(auditing.logs)).not.toContain('"username":"unknown"');
  });

  it('writes nothing at --audit-level None', async () => {
    const file = join(cluster.dir, 'none.log');
    const quiet = await startAmbassador([...cluster.ambassadorArgs, '--audit-level', 'None', '--audit-log-path', file]);
    onTestFinished(() => quiet.stop().then(() => undefined));
    expect((await send(quiet.port, 'GET', '/version')).status).toBe(200);
    expect(await quiet.stop()).toBe(0);
    await expect(readFile(file, 'utf8')).rejects.toThrow();
  });

  it('keeps serving when the sink fails, says so once and counts what is lost', async () => {
    const broken = await startAmbassador(
      [...cluster.ambassadorArgs, '--audit-log-path', join(cluster.dir, 'no-such-dir', 'audit.log')],
      cleanEnv(),
    );
    onTestFinished(() => broken.stop().then(() => undefined));
    await broken.waitForLog((line) => String(line.msg).startsWith('the audit log cannot be written'));
    for (let i = 0; i < 3; i++) expect((await send(broken.port, 'GET', '/version')).status).toBe(200);
    const metrics = await (await fetch(`${broken.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/^kube_api_ambassador_audit_events_lost_total\{reason="sink_error"\} [3-9]/m);
    expect(broken.logs.filter((line) => String(line.msg).startsWith('the audit log cannot be written'))).toHaveLength(
      1,
    );
  });
});
