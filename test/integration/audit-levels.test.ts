/**
 * The audit log past Metadata, through the real CLI: bodies at the Request levels (and never a
 * secret in them, at any level), audit policies per rule, and a sink that stops reading.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { EPHEMERAL_PORTS, spawnAmbassador, startAmbassador, type RunningAmbassador } from '../support/ambassador.ts';
import { parseAuditEvent } from '../support/audit-schema.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { send } from '../support/http.ts';
import { release } from '../support/teardown.ts';

type AuditEvent = Record<string, unknown> & {
  stage: string;
  level: string;
  userAgent?: string;
  requestObject?: unknown;
  responseObject?: unknown;
};

const PASSWORD = 'cGFzc3dvcmQtZm9yLWF1ZGl0'; // base64, so a piece of it is unmistakable in the log
const STRING_PASSWORD = 'string-data-password-987';
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6eDp5In0.dG9rZW4tc2lnbmF0dXJl';
const SECRET = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: {
    name: 'db',
    namespace: 'team-a',
    annotations: { 'kubectl.kubernetes.io/last-applied-configuration': `{"data":{"password":"${PASSWORD}"}}` },
  },
  data: { password: PASSWORD },
  stringData: { backup: STRING_PASSWORD },
};
const SECRET_VALUES = [PASSWORD, STRING_PASSWORD, ...TOKEN.split('.')];

let cluster: TestCluster;

/** Answers with the request's own body (as recorded), as the API server answers a create with the object. */
function echo(status: number) {
  return {
    respond: (req: IncomingMessage, res: ServerResponse) => {
      const recorded = cluster.api.requests.find((r) => r.headers['audit-id'] === req.headers['audit-id']);
      res.writeHead(status, { 'content-type': 'application/json' }).end(recorded?.body);
    },
  };
}

beforeAll(async () => {
  cluster = await startTestCluster();
  cluster.api.putPod('team-a', 'web');
  const { api } = cluster;
  api.script((method, url) => method === 'POST' && url.startsWith('/api/v1/namespaces/team-a/secrets'), echo(201));
  api.script((method, url) => method === 'PATCH' && url === '/api/v1/namespaces/team-a/secrets/db', echo(200));
  api.script((method, url) => method === 'GET' && url === '/api/v1/namespaces/team-a/secrets/db', {
    status: 200,
    body: JSON.stringify(SECRET),
    headers: { 'content-type': 'application/json' },
  });
  api.script((method, url) => method === 'GET' && url === '/api/v1/namespaces/team-a/secrets', {
    status: 200,
    body: JSON.stringify({
      kind: 'SecretList',
      apiVersion: 'v1',
      metadata: {},
      items: [{ metadata: SECRET.metadata, data: SECRET.data }],
    }),
    headers: { 'content-type': 'application/json' },
  });
  api.script((method, url) => method === 'POST' && url === '/api/v1/namespaces/team-a/serviceaccounts/app/token', {
    status: 201,
    body: JSON.stringify({
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      spec: { audiences: ['vault'] },
      status: { token: TOKEN },
    }),
    headers: { 'content-type': 'application/json' },
  });
  api.script((method, url) => method === 'POST' && url === '/apis/authentication.k8s.io/v1/tokenreviews', echo(201));
});

afterAll(() => release(cluster));

async function auditedAmbassador(
  name: string,
  args: readonly string[],
): Promise<{ ambassador: RunningAmbassador; file: string }> {
  const file = join(cluster.dir, `${name}.audit.log`);
  const ambassador = await startAmbassador([...cluster.ambassadorArgs, '--audit-log-path', file, ...args]);
  onTestFinished(() => ambassador.stop().then(() => undefined));
  return { ambassador, file };
}

async function eventsIn(file: string): Promise<AuditEvent[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => parseAuditEvent<AuditEvent>(line));
}

/** The events written for requests made with this User-Agent, once there are `count` (the log is asynchronous). */
async function eventsFor(file: string, userAgent: string, count: number): Promise<AuditEvent[]> {
  await expect
    .poll(async () => (await eventsIn(file)).filter((event) => event.userAgent === userAgent).length, { timeout: 5000 })
    .toBe(count);
  return (await eventsIn(file)).filter((event) => event.userAgent === userAgent);
}

const json = (userAgent: string, contentType = 'application/json') => ({
  'user-agent': userAgent,
  'content-type': contentType,
});

/** Every secret-bearing request the log must not leak from: Secrets every way, token requests and reviews. */
async function secretTraffic(port: number, userAgent: string): Promise<void> {
  const replies = [
    await send(port, 'POST', '/api/v1/namespaces/team-a/secrets', {
      headers: json(userAgent),
      body: JSON.stringify(SECRET),
    }),
    await send(port, 'GET', '/api/v1/namespaces/team-a/secrets/db', { headers: json(userAgent) }),
    await send(port, 'GET', '/api/v1/namespaces/team-a/secrets', { headers: json(userAgent) }),
    await send(port, 'PATCH', '/api/v1/namespaces/team-a/secrets/db', {
      headers: json(userAgent, 'application/json-patch+json'),
      body: JSON.stringify([{ op: 'replace', path: '/data/password', value: PASSWORD }]),
    }),
    await send(port, 'POST', '/api/v1/namespaces/team-a/serviceaccounts/app/token', {
      headers: json(userAgent),
      body: '{"spec":{"audiences":["vault"]}}',
    }),
    await send(port, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      headers: json(userAgent),
      body: JSON.stringify({ kind: 'TokenReview', spec: { token: TOKEN } }),
    }),
  ];
  expect(replies.map((reply) => reply.status)).toEqual([201, 200, 200, 200, 201, 201]);
}

describe('no secret value in the audit log, at any level', () => {
  it.each(['Metadata', 'Request', 'RequestResponse'])('%s', async (level) => {
    const { ambassador, file } = await auditedAmbassador(`secrets-${level}`, ['--audit-level', level]);
    await secretTraffic(ambassador.port, `secrets-${level}`);
    const events = await eventsFor(file, `secrets-${level}`, 6);
    const text = await readFile(file, 'utf8');
    for (const value of SECRET_VALUES) expect(text).not.toContain(value);
    expect(events.every((event) => event.level === level)).toBe(true);
    if (level === 'Metadata') {
      expect(events.some((event) => 'requestObject' in event || 'responseObject' in event)).toBe(false);
      return;
    }
    // The bodies are there, with their keys and without their values.
    const [created, read, listed, patched, tokenRequest, tokenReview] = events;
    expect(created?.requestObject).toMatchObject({
      kind: 'Secret',
      data: { password: '<redacted>' },
      stringData: { backup: '<redacted>' },
    });
    expect(patched?.requestObject).toEqual([{ op: 'replace', path: '/data/password', value: '<redacted>' }]);
    for (const event of [tokenRequest, tokenReview]) {
      expect(event).not.toHaveProperty('requestObject');
      expect(event?.annotations).toMatchObject({
        'kube-api-ambassador/request-object': 'omitted: redacted: token requests and reviews carry tokens',
      });
    }
    if (level === 'Request') {
      expect(events.some((event) => 'responseObject' in event)).toBe(false);
      return;
    }
    expect(created?.responseObject).toMatchObject({ kind: 'Secret', data: { password: '<redacted>' } });
    expect(read?.responseObject).toMatchObject({
      metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '<redacted>' } },
      data: { password: '<redacted>' },
    });
    expect(listed?.responseObject).toMatchObject({ kind: 'SecretList', items: [{ data: { password: '<redacted>' } }] });
    expect(tokenRequest?.annotations).toMatchObject({
      'kube-api-ambassador/response-object': 'omitted: redacted: token requests and reviews carry tokens',
    });
  });
});

describe('no secret value in any line the process writes, however the Secret is spelled or carried', () => {
  const DATA = 'U3BlbGxlZC1EYXRhLXZhbHVl';
  const STRING_DATA = 'spelled-string-data-value';
  const APPLIED = 'QXBwbGllZC1pbi1hbm90aGVyLW9iamVjdA';
  const COPIED = 'Q29waWVkLXRvLWFuLWFubm90YXRpb24';
  const RETYPED = 'UmV0eXBlZC1ieS1hLW1vdmU';
  const OBJECTS = '/apis/kubernetes.crossplane.io/v1alpha2/namespaces/team-a/objects';

  it('at RequestResponse, with the audit log on stdout beside the operational log', async () => {
    const { api } = cluster;
    api.script((method, url) => method === 'POST' && url === OBJECTS, echo(201));
    api.script((method, url) => method === 'PATCH' && url === '/api/v1/namespaces/team-a/secrets/copied', {
      status: 200,
      body: JSON.stringify({ ...SECRET, metadata: { ...SECRET.metadata, annotations: { leaked: COPIED } } }),
      headers: { 'content-type': 'application/json' },
    });
    api.script((method, url) => method === 'PATCH' && url === '/api/v1/namespaces/team-a/secrets/retyped', {
      status: 422,
      body: JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `Secret "retyped" is invalid: type: Invalid value: "${RETYPED}": field is immutable`,
        reason: 'Invalid',
        details: {
          name: 'retyped',
          kind: 'secrets',
          causes: [
            { reason: 'FieldValueInvalid', message: `Invalid value: "${RETYPED}": field is immutable`, field: 'type' },
          ],
        },
        code: 422,
      }),
      headers: { 'content-type': 'application/json' },
    });
    const ambassador = await startAmbassador([...cluster.ambassadorArgs, '--audit-level', 'RequestResponse']);
    onTestFinished(() => ambassador.stop().then(() => undefined));
    const userAgent = 'blind-spots';
    const misspelled = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'misspelled' },
      Data: { password: DATA },
      StringData: { extra: STRING_DATA },
    };
    const template = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, data: { password: APPLIED } };
    const object = {
      apiVersion: 'kubernetes.crossplane.io/v1alpha2',
      kind: 'Object',
      metadata: {
        name: 'db',
        annotations: {
          'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({
            kind: 'Object',
            spec: { forProvider: { manifest: template } },
          }),
        },
      },
      spec: { forProvider: { manifest: template } },
    };
    const jsonPatch = json(userAgent, 'application/json-patch+json');
    const replies = [
      await send(ambassador.port, 'POST', '/api/v1/namespaces/team-a/secrets', {
        headers: json(userAgent),
        body: JSON.stringify(misspelled),
      }),
      await send(ambassador.port, 'POST', OBJECTS, { headers: json(userAgent), body: JSON.stringify(object) }),
      await send(ambassador.port, 'PATCH', '/api/v1/namespaces/team-a/secrets/copied', {
        headers: jsonPatch,
        body: '[{"op":"copy","from":"/data/password","path":"/metadata/annotations/leaked"}]',
      }),
      await send(ambassador.port, 'PATCH', '/api/v1/namespaces/team-a/secrets/retyped', {
        headers: jsonPatch,
        body: '[{"op":"move","from":"/data/password","path":"/type"}]',
      }),
    ];
    expect(replies.map((reply) => reply.status)).toEqual([201, 201, 200, 422]);
    // The values did reach the API server and come back: only the log is spared them.
    expect(replies[0]?.text).toContain(DATA);
    expect(replies[1]?.text).toContain(APPLIED);
    expect(replies[2]?.text).toContain(COPIED);

    await ambassador.waitForLog(
      (line) =>
        line['kind'] === 'Event' &&
        line['userAgent'] === userAgent &&
        line['verb'] === 'patch' &&
        line['objectRef'] !== undefined &&
        (line['objectRef'] as { name?: string }).name === 'retyped',
    );
    expect(await ambassador.stop()).toBe(0);
    const events = ambassador.logs.filter((line) => line['kind'] === 'Event' && line['userAgent'] === userAgent);
    expect(events).toHaveLength(4);
    const written = `${ambassador.logs.map((line) => JSON.stringify(line)).join('\n')}\n${ambassador.stderr()}`;
    for (const value of [DATA, STRING_DATA, APPLIED, COPIED, RETYPED]) expect(written).not.toContain(value);
    const [created, applied, copied, retyped] = events;
    expect(created?.['requestObject']).toMatchObject({
      kind: 'Secret',
      Data: { password: '<redacted>' },
      StringData: { extra: '<redacted>' },
    });
    expect(applied?.['responseObject']).toMatchObject({
      kind: 'Object',
      spec: { forProvider: { manifest: { data: { password: '<redacted>' } } } },
    });
    expect(copied?.['requestObject']).toEqual([
      { op: 'copy', from: '/data/password', path: '/metadata/annotations/leaked' },
    ]);
    for (const event of [copied, retyped]) {
      expect(event).not.toHaveProperty('responseObject');
      expect(event?.['annotations']).toMatchObject({
        'kube-api-ambassador/response-object':
          "omitted: redacted: a JSON patch that copies or moves values can put a Secret's value in any field of the answer",
      });
    }
  });
});

describe('bodies at the Request levels', () => {
  it('logs the request and response objects of a create, and forwards the body unchanged', async () => {
    const { ambassador, file } = await auditedAmbassador('bodies', ['--audit-level', 'RequestResponse']);
    const body = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"colours"},"data":{"sky":"blue"}}';
    const reply = await send(ambassador.port, 'POST', '/api/v1/namespaces/team-a/configmaps', {
      headers: json('bodies-create'),
      body,
    });
    expect(reply.status).toBe(201);
    const [event] = await eventsFor(file, 'bodies-create', 1);
    expect(event).toMatchObject({
      level: 'RequestResponse',
      stage: 'ResponseComplete',
      verb: 'create',
      responseStatus: { code: 201 },
    });
    expect(event?.requestObject).toEqual(JSON.parse(body));
    expect(event?.responseObject).toEqual(JSON.parse(reply.text));
    const arrived = await cluster.api.waitForRequest((r) => r.headers['user-agent'] === 'bodies-create');
    expect(arrived.body.toString()).toBe(body);
  });

  it('leaves out a body nested too deep to redact, and keeps serving', async () => {
    const { ambassador, file } = await auditedAmbassador('deep', ['--audit-level', 'Request']);
    const body = `${'['.repeat(30_000)}${']'.repeat(30_000)}`;
    const reply = await send(ambassador.port, 'POST', '/api/v1/namespaces/team-a/configmaps', {
      headers: json('bodies-deep'),
      body,
    });
    expect(reply.status).toBe(400); // the test API server's answer: not an object
    const [event] = await eventsFor(file, 'bodies-deep', 1);
    expect(event).not.toHaveProperty('requestObject');
    expect(event?.annotations).toMatchObject({
      'kube-api-ambassador/request-object': 'omitted: nested deeper than 512 levels',
    });
    expect((await send(ambassador.port, 'GET', '/version')).status).toBe(200);
  });

  it('leaves out a body past --audit-max-body-bytes, marks the event truncated, and still forwards every byte', async () => {
    const { ambassador, file } = await auditedAmbassador('big', [
      '--audit-level',
      'RequestResponse',
      '--audit-max-body-bytes',
      '1024',
    ]);
    const body = JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'big' },
      data: { blob: 'x'.repeat(200_000) },
    });
    const reply = await send(ambassador.port, 'PUT', '/api/v1/namespaces/team-a/configmaps/big', {
      headers: json('bodies-big'),
      body,
    });
    expect(reply.status).toBe(201);
    expect(reply.body.length).toBe(body.length);
    const [event] = await eventsFor(file, 'bodies-big', 1);
    expect(event).not.toHaveProperty('requestObject');
    expect(event).not.toHaveProperty('responseObject');
    expect(event?.annotations).toMatchObject({
      'kube-api-ambassador/request-object': `omitted: ${body.length} bytes, over --audit-max-body-bytes=1024`,
      'kube-api-ambassador/response-object': `omitted: ${body.length} bytes, over --audit-max-body-bytes=1024`,
      'audit.k8s.io/truncated': 'true',
    });
    const arrived = await cluster.api.waitForRequest((r) => r.headers['user-agent'] === 'bodies-big');
    expect(arrived.body.toString()).toBe(body);
  });

  it('never captures a watch: its events carry no objects', async () => {
    const { ambassador, file } = await auditedAmbassador('watch', ['--audit-level', 'RequestResponse']);
    const watch = request({
      host: '127.0.0.1',
      port: ambassador.port,
      path: '/api/v1/namespaces/team-a/pods?watch=1',
      headers: { host: 'localhost', 'user-agent': 'bodies-watch' },
    });
    const firstEvent = new Promise<void>((resolve) => watch.on('response', (res) => res.once('data', () => resolve())));
    watch.on('error', () => undefined).end();
    await firstEvent;
    watch.destroy();
    const events = await eventsFor(file, 'bodies-watch', 2);
    expect(events.map((event) => [event.stage, event.level])).toEqual([
      ['ResponseStarted', 'RequestResponse'],
      ['ResponseComplete', 'RequestResponse'],
    ]);
    expect(events.some((event) => 'responseObject' in event || 'requestObject' in event)).toBe(false);
  });
});

describe('--audit-policy: a Kubernetes audit policy', () => {
  const POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [ResponseStarted]
rules:
  - level: None
    nonResourceURLs: [/version]
  - level: RequestResponse
    verbs: [create]
    resources: [{ group: "", resources: [configmaps] }]
  - level: Request
    namespaces: [team-b]
  - level: Metadata
`;

  it('chooses the level per request by its rules, and omits the stages it names', async () => {
    const policyFile = join(cluster.dir, 'audit-policy.yaml');
    await writeFile(policyFile, POLICY);
    const { ambassador, file } = await auditedAmbassador('policy', ['--audit-policy', policyFile]);
    const { port } = ambassador;
    await send(port, 'GET', '/version', { headers: json('policy-version') });
    await send(port, 'POST', '/api/v1/namespaces/team-b/configmaps', {
      headers: json('policy-create'),
      body: '{"kind":"ConfigMap","metadata":{"name":"p"}}',
    });
    await send(port, 'POST', '/api/v1/namespaces/team-b/pods', {
      headers: json('policy-team-b'),
      body: '{"kind":"Pod","metadata":{"name":"p"}}',
    });
    const watch = request({
      host: '127.0.0.1',
      port,
      path: '/api/v1/namespaces/team-a/pods?watch=1',
      headers: { host: 'localhost', 'user-agent': 'policy-watch' },
    });
    const opened = new Promise<void>((resolve) => watch.on('response', (res) => res.once('data', () => resolve())));
    watch.on('error', () => undefined).end();
    await opened;
    watch.destroy();

    const [watched] = await eventsFor(file, 'policy-watch', 1);
    expect(watched).toMatchObject({ stage: 'ResponseComplete', level: 'Metadata' }); // no ResponseStarted
    const [created] = await eventsFor(file, 'policy-create', 1);
    expect(created).toMatchObject({
      level: 'RequestResponse',
      requestObject: { kind: 'ConfigMap' },
      responseObject: { kind: 'ConfigMap' },
    });
    const [teamB] = await eventsFor(file, 'policy-team-b', 1);
    expect(teamB).toMatchObject({ level: 'Request', requestObject: { kind: 'Pod', metadata: { name: 'p' } } });
    expect(teamB).not.toHaveProperty('responseObject');
    expect((await eventsIn(file)).filter((event) => event.userAgent === 'policy-version')).toEqual([]);
  });

  it('refuses to start on an invalid policy, naming every problem', async () => {
    const policyFile = join(cluster.dir, 'bad-audit-policy.yaml');
    await writeFile(policyFile, 'kind: Policy\nrules:\n  - level: Verbose\n  - level: None\n    verb: [get]\n');
    const ambassador = spawnAmbassador([...cluster.ambassadorArgs, ...EPHEMERAL_PORTS, '--audit-policy', policyFile]);
    expect(await ambassador.exited).toBe(2);
    expect(ambassador.stderr()).toContain(`${policyFile}: invalid audit policy:`);
    expect(ambassador.stderr()).toContain('rules[0].level: required, one of None, Metadata, Request, RequestResponse');
    expect(ambassador.stderr()).toContain('rules[1].verb: unknown field');
  });
});

/** Reads what the pipe holds now, without waiting. */
function readAvailable(fd: number): string {
  const buffer = Buffer.alloc(1 << 20);
  let text = '';
  for (;;) {
    let read: number;
    try {
      read = readSync(fd, buffer, 0, buffer.length, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return text;
      throw error;
    }
    if (read === 0) return text;
    text += buffer.toString('utf8', 0, read);
  }
}

/**
 * An ambassador whose audit log is a named pipe with a reader that holds it open and reads
 * nothing until the test does: past 64 KiB the ambassador's writes to it cannot proceed.
 */
async function ambassadorWithStalledSink(name: string): Promise<{ ambassador: RunningAmbassador; reader: number }> {
  const fifo = join(cluster.dir, `${name}.fifo`);
  execFileSync('mkfifo', [fifo]);
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  onTestFinished(() => closeSync(reader));
  const ambassador = await startAmbassador([...cluster.ambassadorArgs, '--audit-log-path', fifo]);
  return { ambassador, reader };
}

describe('a sink that stops reading or fails', () => {
  it('does not hold up proxying; the events wait in the bounded buffer and arrive once it reads again', async () => {
    const { ambassador, reader } = await ambassadorWithStalledSink('blocked');
    onTestFinished(() => ambassador.stop().then(() => undefined));

    const requests = 2_000;
    const statuses = new Map<number, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < requests) {
          next += 1;
          const { status } = await send(ambassador.port, 'GET', '/version', {
            headers: { 'user-agent': 'blocked-sink' },
          });
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      }),
    );
    expect(Object.fromEntries(statuses)).toEqual({ 200: requests });

    // All 2,000 were answered while the pipe held only a fraction of their events (about 1 MB): one read takes all it holds.
    const pipeContents = Buffer.alloc(1 << 20);
    let text = pipeContents.toString('utf8', 0, readSync(reader, pipeContents, 0, pipeContents.length, null));
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(65_536);
    const eventCount = (): number =>
      text.split('\n').filter((line) => line.includes('"userAgent":"blocked-sink"')).length;
    expect(eventCount()).toBeLessThan(requests);
    await expect
      .poll(
        () => {
          text += readAvailable(reader);
          return eventCount();
        },
        { timeout: 10_000 },
      )
      .toBe(requests);
  });

  it('keeps serving when writes start failing mid-run (a full disk), says so once and counts the loss', async () => {
    const ambassador = await startAmbassador([...cluster.ambassadorArgs, '--audit-log-path', '/dev/full']);
    onTestFinished(() => ambassador.stop().then(() => undefined));
    const failed = ambassador.waitForLog(
      (line) => String(line.msg).startsWith('the audit log cannot be written'),
      10_000,
    );
    // Writes go out in batches (8 KiB, or each second): keep the requests coming until one has failed.
    let served = 0;
    // A field, not a let: the callback sets it, which the loop's narrowing of a local would not see.
    const logged = { failure: false };
    void failed.then(() => (logged.failure = true));
    while (!logged.failure && served < 5_000) {
      expect((await send(ambassador.port, 'GET', '/version', { headers: { 'user-agent': 'full-disk' } })).status).toBe(
        200,
      );
      served += 1;
    }
    expect(await failed).toMatchObject({ reason: expect.stringContaining('ENOSPC') as unknown });
    for (let i = 0; i < 3; i++) expect((await send(ambassador.port, 'GET', '/version')).status).toBe(200);
    const metrics = await (await fetch(`${ambassador.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/^kube_api_ambassador_audit_events_lost_total\{reason="sink_error"\} [1-9]/m);
    expect(
      ambassador.logs.filter((line) => String(line.msg).startsWith('the audit log cannot be written')),
    ).toHaveLength(1);
    expect(await ambassador.stop()).toBe(0);
  });

  it('does not hold up shutdown either', async () => {
    const { ambassador } = await ambassadorWithStalledSink('stuck');
    // About 250 KB of events (long user agents) for a pipe that holds 64 KiB: some are still waiting at SIGTERM.
    const userAgent = `stuck-${'y'.repeat(300)}`;
    for (let i = 0; i < 300; i++)
      expect((await send(ambassador.port, 'GET', '/version', { headers: { 'user-agent': userAgent } })).status).toBe(
        200,
      );
    expect(await ambassador.stop()).toBe(0);
    expect(
      ambassador.logs.some((line) =>
        String(line.msg).startsWith('the audit log did not take every event before shutdown'),
      ),
    ).toBe(true);
  });
});
