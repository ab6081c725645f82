/**
 * What reaches the API server from a client's request headers, over both upstream protocols: a
 * WebSocket bearer-token subprotocol never does (nor any protocol the API server does not speak),
 * and a repeated single-value header is refused with a 400 naming it, never a 500 or a Panic event.
 */
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAmbassador, type RunningAmbassador } from '../support/ambassador.ts';
import { parseAuditEvent } from '../support/audit-schema.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { send, sendRaw } from '../support/http.ts';
import { release } from '../support/teardown.ts';

/** Another identity's token, as a browser-based client would put it in Sec-WebSocket-Protocol. */
const STOLEN_TOKEN = Buffer.from('token-of-another-identity').toString('base64url');
const BEARER_PROTOCOL = `base64url.bearer.authorization.k8s.io.${STOLEN_TOKEN}`;

/** The audit log is written asynchronously, in batches. */
const POLL = { timeout: 5000 };

interface UpgradeAnswer {
  readonly status: number;
  readonly head: string;
  /** The body of a refusal; empty after a 101. */
  readonly body: string;
}

/** Sends a raw upgrade request; resolves with the head once a 101 arrives, or with the whole refusal. */
function upgrade(port: number, request: string): Promise<UpgradeAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const answer = (): UpgradeAnswer => {
      const headEnd = received.indexOf('\r\n\r\n');
      const head = headEnd === -1 ? received : received.slice(0, headEnd);
      return {
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
        head,
        body: headEnd === -1 ? '' : received.slice(headEnd + 4),
      };
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.startsWith('HTTP/1.1 101 ') && received.includes('\r\n\r\n')) {
        socket.destroy();
        resolve({ ...answer(), body: '' });
      }
    });
    socket.on('end', () => resolve(answer()));
    socket.on('error', reject);
    socket.write(request);
  });
}

function webSocketExec(target: string, protocolHeaders: readonly string[]): string {
  return (
    `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
    protocolHeaders.map((value) => `Sec-WebSocket-Protocol: ${value}\r\n`).join('') +
    '\r\n'
  );
}

function spdyExec(target: string, versions: readonly string[]): string {
  return (
    `POST ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nContent-Length: 0\r\n` +
    versions.map((value) => `X-Stream-Protocol-Version: ${value}\r\n`).join('') +
    '\r\n'
  );
}

/** Every value the API server received for `name`, in order. */
function receivedValues(rawHeaders: readonly string[], name: string): string[] {
  return rawHeaders.filter((_, i) => i % 2 === 1 && rawHeaders[i - 1]?.toLowerCase() === name);
}

describe.each(['h2', 'h1'] as const)('request headers, with an API server speaking %s', (protocol) => {
  let cluster: TestCluster;
  let ambassador: RunningAmbassador;
  let auditFile: string;
  let exec = 0;

  /** A distinct exec target per test, so each finds its own request at the API server. */
  function nextExecTarget(): string {
    exec += 1;
    return `/api/v1/namespaces/team-a/pods/web/exec?command=echo&command=${exec}&stdout=true`;
  }

  async function auditEvents(): Promise<Record<string, unknown>[]> {
    const text = await readFile(auditFile, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => parseAuditEvent<Record<string, unknown>>(line));
  }

  beforeAll(async () => {
    cluster = await startTestCluster({ protocol });
    cluster.api.putPod('team-a', 'web');
    auditFile = join(cluster.dir, 'audit.log');
    // exec is refused by kubectl proxy's default --reject-paths.
    ambassador = await startAmbassador([
      ...cluster.ambassadorArgs,
      '--audit-log-path',
      auditFile,
      '--reject-paths',
      '',
    ]);
  });

  afterAll(() => release(ambassador, cluster));

  describe('a bearer token offered as a WebSocket subprotocol never reaches the API server', () => {
    it.each([
      ['after the real subprotocol, in one header', [`v5.channel.k8s.io, ${BEARER_PROTOCOL}`]],
      ['before it, without spaces', [`${BEARER_PROTOCOL},v5.channel.k8s.io`]],
      ['in a header of its own', ['v5.channel.k8s.io', BEARER_PROTOCOL]],
      ['among unknown subprotocols', [`x-unknown, ${BEARER_PROTOCOL}`, ' v5.channel.k8s.io ,, v4.channel.k8s.io']],
    ])('%s: the session runs as the ambassador, on the subprotocols the API server speaks', async (_, offered) => {
      const target = nextExecTarget();
      const answer = await upgrade(ambassador.port, webSocketExec(target, offered));
      expect(answer.status).toBe(101);
      expect(answer.head).toContain('\r\nSec-WebSocket-Protocol: v5.channel.k8s.io');
      const received = await cluster.api.waitForRequest((r) => r.url === target);
      expect(received.user).toBe('token');
      const expected = offered.join(',').includes('v4.channel.k8s.io')
        ? 'v5.channel.k8s.io, v4.channel.k8s.io'
        : 'v5.channel.k8s.io';
      expect(receivedValues(received.rawHeaders, 'sec-websocket-protocol')).toEqual([expected]);
      expect(JSON.stringify(received.rawHeaders)).not.toContain('bearer');
    });

    it('an offer of nothing but the token is refused with a 400 before the API server, and the token is never logged', async () => {
      const target = nextExecTarget();
      const answer = await upgrade(ambassador.port, webSocketExec(target, [BEARER_PROTOCOL]));
      expect(answer.status).toBe(400);
      const status = JSON.parse(answer.body) as Record<string, unknown>;
      expect(status).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400 });
      expect(status['message']).toMatch(
        /^the Sec-WebSocket-Protocol header offers no subprotocol the API server speaks/,
      );
      expect(cluster.api.requests.filter((r) => r.url === target)).toEqual([]);
      await expect
        .poll(
          async () => (await auditEvents()).filter((e) => e['requestURI'] === target).map((e) => e['responseStatus']),
          POLL,
        )
        .toEqual([expect.objectContaining({ code: 400 })]);
      const everythingWritten =
        JSON.stringify(ambassador.logs) + ambassador.stderr() + (await readFile(auditFile, 'utf8')) + answer.body;
      expect(everythingWritten).not.toContain(STOLEN_TOKEN);
    });
  });

  it('a SPDY upgrade forwards only the stream protocols the kubelet speaks, one header each', async () => {
    const target = nextExecTarget();
    const answer = await upgrade(
      ambassador.port,
      spdyExec(target, ['v4.channel.k8s.io', 'x-unknown.example', 'v3.channel.k8s.io, x-other']),
    );
    expect(answer.status).toBe(101);
    const received = await cluster.api.waitForRequest((r) => r.url === target);
    expect(receivedValues(received.rawHeaders, 'x-stream-protocol-version')).toEqual([
      'v4.channel.k8s.io',
      'v3.channel.k8s.io',
    ]);
  });

  describe('a repeated single-value header is a 400 naming it, never a 500 or a Panic event', () => {
    it.each([
      ['Content-Type', ['application/json', 'application/yaml']],
      ['User-Agent', ['kubectl/v1.33.0', 'kubectl/v1.33.0']],
      ['If-Match', ['"1"', '"2"']],
      ['If-None-Match', ['"1"', '"2"']],
      ['If-Modified-Since', ['Mon, 01 Jan 2024 00:00:00 GMT', 'Tue, 02 Jan 2024 00:00:00 GMT']],
      ['If-Unmodified-Since', ['Mon, 01 Jan 2024 00:00:00 GMT', 'Tue, 02 Jan 2024 00:00:00 GMT']],
      ['Content-Encoding', ['identity', 'identity']],
    ])('%s', async (name, values) => {
      const path = `/api/v1/namespaces/team-a/configmaps/repeated-${name.toLowerCase()}`;
      const answer = await send(ambassador.port, 'GET', path, { headers: { [name]: values } });
      expect(answer.status).toBe(400);
      expect(answer.json()).toMatchObject({
        kind: 'Status',
        reason: 'BadRequest',
        code: 400,
        message: expect.stringContaining(name) as unknown,
      });
      expect(cluster.api.requests.filter((r) => r.url === path)).toEqual([]);
      await expect
        .poll(
          async () =>
            (await auditEvents()).filter((e) => e['requestURI'] === path).map((e) => [e['stage'], e['responseStatus']]),
          POLL,
        )
        .toEqual([['ResponseComplete', expect.objectContaining({ code: 400 })]]);
    });

    it('Content-Length (refused by the HTTP parser itself)', async () => {
      const raw = await sendRaw(
        ambassador.port,
        'POST /api/v1/namespaces/team-a/configmaps HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n' +
          'Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}',
      );
      expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    });

    it('and no request above left a Panic event', async () => {
      expect((await auditEvents()).filter((e) => e['stage'] === 'Panic')).toEqual([]);
      expect(
        ambassador.logs.filter((line) => line.level === 'error' || line.msg === 'unexpected error handling a request'),
      ).toEqual([]);
    });
  });

  it('a single Accept with a Table request and repeated Accept headers still reach the API server as sent', async () => {
    const path = '/api/v1/namespaces/team-a/pods/web';
    const answer = await send(ambassador.port, 'GET', path, {
      headers: {
        accept: ['application/json;as=Table;v=v1;g=meta.k8s.io', 'application/json'],
        'user-agent': 'two-accepts',
      },
    });
    expect(answer.status).toBe(200);
    const received = await cluster.api.waitForRequest((r) => r.headers['user-agent'] === 'two-accepts');
    expect(receivedValues(received.rawHeaders, 'accept')).toEqual([
      'application/json;as=Table;v=v1;g=meta.k8s.io',
      'application/json',
    ]);
  });
});
