/**
 * The audit stage Panic: when the ambassador itself fails handling a request, the client gets a 500
 * Status, the audit log a Panic event, and the proxy keeps serving. A failure has to be injected to
 * be seen, so the ambassador runs in this process (createAmbassador, as src/main.ts runs it) with one
 * of its parts made to throw; everything else is real, down to the test API server over TLS.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAmbassador, type Ambassador } from '../../src/app/ambassador.ts';
import { CredentialStore } from '../../src/cluster/credentials.ts';
import { parseOptions } from '../../src/config/parse-options.ts';
import { parseAuditEvent } from '../support/audit-schema.ts';
import { EPHEMERAL_PORTS } from '../support/ambassador.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { TEST_ENVIRONMENT } from '../support/environment.ts';
import { parseRawResponse, send, sendRaw } from '../support/http.ts';

/** Which part of the request path throws. */
const fault = { inFilter: false, inForwarding: false };

/** An --accept-hosts pattern that throws while `fault.inFilter` is set. */
class FaultyPattern extends RegExp {
  override test(text: string): boolean {
    if (fault.inFilter) throw new Error('injected fault in the request filter');
    return super.test(text);
  }
}

let cluster: TestCluster;
let ambassador: Ambassador;
let port: number;
let auditFile: string;
const operationalLog: string[] = [];

beforeAll(async () => {
  cluster = await startTestCluster();
  auditFile = join(cluster.dir, 'panic.audit.log');
  const log = pino(
    { level: 'error' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        operationalLog.push(chunk.toString());
        done();
      },
    }),
  );
  const flags = [...EPHEMERAL_PORTS, '--audit-log-path', auditFile];
  const parsed = parseOptions([...cluster.ambassadorArgs, ...flags], {});
  if (parsed.kind !== 'run') throw new Error(`test options refused: ${JSON.stringify(parsed)}`);
  const config = { ...parsed.config, acceptHosts: [new FaultyPattern('^localhost$'), /^127\.0\.0\.1$/] };
  ambassador = await createAmbassador(config, TEST_ENVIRONMENT, log);
  const add = ambassador.inFlight.add.bind(ambassador.inFlight);
  vi.spyOn(ambassador.inFlight, 'add').mockImplementation((exchange) => {
    if (fault.inForwarding) throw new Error('injected fault while forwarding');
    add(exchange);
  });
  const { proxy } = await ambassador.start();
  port = Number(proxy.split(':').pop());
});

afterAll(async () => {
  await ambassador.stop();
  await cluster.close();
});

async function eventsFor(userAgent: string): Promise<Record<string, unknown>[]> {
  await ambassador.flushAudit();
  const text = await readFile(auditFile, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => parseAuditEvent<Record<string, unknown>>(line))
    .filter((event) => event['userAgent'] === userAgent);
}

describe('Panic: the ambassador failing while it handles a request', () => {
  it.each([
    ['before the request is decided', 'inFilter'],
    ['while it is being forwarded', 'inForwarding'],
  ] as const)('%s: a 500 Status, a Panic event, and the next request is served', async (_, where) => {
    fault[where] = true;
    const failed = await send(port, 'GET', '/api/v1/namespaces/team-a/pods', {
      headers: { 'user-agent': `panic-${where}` },
    }).finally(() => {
      fault[where] = false;
    });
    expect(failed.status).toBe(500);
    expect(failed.json()).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'InternalError',
      code: 500,
      message: 'the ambassador failed to handle the request; see its log',
    });
    await expect.poll(() => eventsFor(`panic-${where}`)).toHaveLength(1);
    const [event] = await eventsFor(`panic-${where}`);
    expect(event).toMatchObject({
      stage: 'Panic',
      level: 'Metadata',
      requestURI: '/api/v1/namespaces/team-a/pods',
      responseStatus: {
        code: 500,
        status: 'Failure',
        message: 'the ambassador failed to handle the request; see its log',
      },
    });
    expect(operationalLog.some((line) => line.includes(`injected fault`))).toBe(true);

    expect(
      (await send(port, 'GET', '/api/v1/namespaces/team-a/pods', { headers: { 'user-agent': `after-${where}` } }))
        .status,
    ).toBe(200);
    await expect
      .poll(async () => (await eventsFor(`after-${where}`)).map((e) => e['stage']))
      .toEqual(['ResponseComplete']);
  });

  it('an upgrade too', async () => {
    fault.inFilter = true;
    const raw = await sendRaw(
      port,
      'GET /api/v1/namespaces/team-a/pods/web/exec?command=date HTTP/1.1\r\nHost: localhost\r\nUser-Agent: panic-upgrade\r\n' +
        'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    ).finally(() => {
      fault.inFilter = false;
    });
    expect(parseRawResponse(raw)).toMatchObject({ status: 500, body: { reason: 'InternalError' } });
    await expect.poll(async () => (await eventsFor('panic-upgrade')).map((e) => e['stage'])).toEqual(['Panic']);
  });

  it('in the retry after a 401: a 500 Status and a Panic event, never an unhandled rejection', async () => {
    const token = await readFile(cluster.tokenFile, 'utf8');
    // The API server now takes another token, and re-reading the ambassador's own fails unexpectedly.
    await writeFile(cluster.tokenFile, 'a-token-the-ambassador-does-not-have\n');
    const refresh = vi
      .spyOn(CredentialStore.prototype, 'refreshAfterUnauthorized')
      .mockRejectedValueOnce(new Error('injected fault re-reading the credentials'));
    const failed = await send(port, 'GET', '/api/v1/namespaces/team-a/pods', {
      headers: { 'user-agent': 'panic-retry' },
    }).finally(async () => {
      refresh.mockRestore();
      await writeFile(cluster.tokenFile, token);
    });
    expect(failed.status).toBe(500);
    expect(failed.json()).toMatchObject({ kind: 'Status', reason: 'InternalError', code: 500 });
    await expect.poll(async () => (await eventsFor('panic-retry')).map((e) => e['stage'])).toEqual(['Panic']);
    expect(operationalLog.some((line) => line.includes('injected fault re-reading the credentials'))).toBe(true);
    expect(
      (await send(port, 'GET', '/api/v1/namespaces/team-a/pods', { headers: { 'user-agent': 'after-retry' } })).status,
    ).toBe(200);
  });
});
