import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { unsignedJwt } from '../support/requests.ts';
import { startAmbassador, type RunningAmbassador } from '../support/ambassador.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { send, sendRaw } from '../support/http.ts';
import { singleContextKubeconfig } from '../support/kubectl.ts';
import { createPki, issueClientCert } from '../support/pki.ts';

let cluster: TestCluster;

beforeEach(async () => {
  cluster = await startTestCluster();
});

afterEach(async () => {
  await cluster.close();
});

async function ambassadorWith(...extra: string[]): Promise<RunningAmbassador> {
  const ambassador = await startAmbassador([...cluster.ambassadorArgs, ...extra]);
  onTestFinished(async () => {
    await ambassador.stop();
  });
  return ambassador;
}

const MiB = 1024 * 1024;

/** The process's peak resident memory so far (Linux `VmHWM`), in bytes. */
function peakResidentBytes(ambassador: RunningAmbassador): number {
  const kilobytes = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${ambassador.child.pid}/status`, 'utf8'))?.[1];
  if (kilobytes === undefined) throw new Error('no VmHWM in /proc/PID/status');
  return Number(kilobytes) * 1024;
}

function jwt(claims: Record<string, unknown>): string {
  return unsignedJwt(claims);
}

describe('token rotation', () => {
  it('re-reads a rotated token at once after a 401 and retries the request, without a restart', async () => {
    const ambassador = await ambassadorWith();
    expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods')).status).toBe(200);
    await cluster.rotateToken('second-token');
    const res = await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods?after=rotation');
    expect(res.status).toBe(200);
    const attempts = cluster.api.requests.filter((r) => r.url.endsWith('?after=rotation'));
    expect(attempts.map((r) => r.headers.authorization)).toEqual(['Bearer first-token', 'Bearer second-token']);
  });

  it('retries an upgrade (exec) after a 401 the same way, so the session starts with the rotated token', async () => {
    const ambassador = await ambassadorWith('--reject-paths', '');
    await cluster.rotateToken('upgrade-token');
    const target = '/api/v1/namespaces/default/pods/web/exec?command=date&stdout=true&rotated=1';
    const raw = await sendRaw(
      ambassador.port,
      `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n',
    );
    expect(raw).toMatch(/^HTTP\/1\.1 101 /);
    const attempts = cluster.api.requests.filter((r) => r.url === target);
    expect(attempts.map((r) => r.headers.authorization)).toEqual(['Bearer first-token', 'Bearer upgrade-token']);
  });

  it('re-reads the token file on its timer, off the request path', async () => {
    const ambassador = await ambassadorWith('--credential-refresh-interval', '100ms');
    await cluster.rotateToken('timer-token');
    await ambassador.waitForLog((line) => line.msg === 'credentials rotated');
    await send(ambassador.port, 'GET', '/version?timer=1');
    const seen = await cluster.api.waitForRequest((r) => r.url === '/version?timer=1');
    expect(seen.headers.authorization).toBe('Bearer timer-token');
  });

  it('keeps the last good token when the file is emptied, and says so once', async () => {
    const ambassador = await ambassadorWith('--credential-refresh-interval', '100ms');
    await writeFile(cluster.tokenFile, '');
    await ambassador.waitForLog((line) => line.msg === 'cannot reload credentials; keeping the last good ones');
    const metrics = await (await fetch(`${ambassador.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/^kube_api_ambassador_credential_reloads_total\{result="failure"\} [1-9]/m);
    await send(ambassador.port, 'GET', '/version?emptied=1');
    const seen = await cluster.api.waitForRequest((r) => r.url === '/version?emptied=1');
    expect(seen.headers.authorization).toBe('Bearer first-token');
    expect(JSON.stringify(ambassador.logs)).not.toContain('first-token');
  });

  it('keeps the last good token while the token file is 30 MB, says which file and limit, and takes the file again once it is back (security review, finding 7)', async () => {
    const ownToken = join(cluster.dir, 'ambassador-token'); // the API server keeps accepting first-token meanwhile
    await writeFile(ownToken, 'first-token\n');
    const ambassador = await ambassadorWith('--token-file', ownToken, '--credential-refresh-interval', '50ms');
    const peakBefore = peakResidentBytes(ambassador);
    await writeFile(`${ownToken}.next`, Buffer.alloc(30 * MiB, 'a'));
    await rename(`${ownToken}.next`, ownToken);
    const warning = await ambassador.waitForLog(
      (line) => line.msg === 'cannot reload credentials; keeping the last good ones',
    );
    expect(warning['reason']).toBe(`the token file ${ownToken} is over the 64 KiB limit (30 MiB); not loaded`);
    for (let i = 0; i < 3; i++) {
      expect((await send(ambassador.port, 'GET', `/version?oversized=${i}`)).status).toBe(200);
    }
    const whileOversized = cluster.api.requests.filter((r) => r.url.startsWith('/version?oversized='));
    expect(whileOversized.map((r) => r.headers.authorization)).toEqual([
      'Bearer first-token',
      'Bearer first-token',
      'Bearer first-token',
    ]);
    // Reading the file at all would cost at least its 30 MiB; half of that leaves room for noise.
    expect(peakResidentBytes(ambassador) - peakBefore).toBeLessThan(15 * MiB);

    await cluster.rotateToken('restored-token');
    await writeFile(`${ownToken}.next`, 'restored-token\n');
    await rename(`${ownToken}.next`, ownToken);
    await ambassador.waitForLog((line) => line.msg === 'credentials load again');
    await send(ambassador.port, 'GET', '/version?restored=1');
    const seen = await cluster.api.waitForRequest((r) => r.url === '/version?restored=1');
    expect(seen.headers.authorization).toBe('Bearer restored-token');
  });

  it('never puts the token in a log line or an error body', async () => {
    const ambassador = await ambassadorWith('--log-level', 'trace');
    cluster.api.script((_, url) => url === '/api/v1/pods', 'reset');
    const res = await send(ambassador.port, 'GET', '/api/v1/pods');
    expect(res.status).toBe(503);
    expect(res.text).not.toContain('first-token');
    expect(JSON.stringify(ambassador.logs) + ambassador.stderr()).not.toContain('first-token');
  });

  it('reports an expired token on /readyz', async () => {
    await cluster.rotateToken(jwt({ sub: 'system:serviceaccount:default:app', exp: 1_000_000_000 }));
    const ambassador = await ambassadorWith();
    const readyz = await fetch(`${ambassador.adminUrl}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.text()).toContain('[-]credentials failed: credentials expired at 2001-09-09T01:46:40.000Z');
  });
});

describe('the cluster CA', () => {
  it('refuses an API server whose certificate the CA does not verify, with a 503 Status', async () => {
    const stranger = await createPki(cluster.dir, 'stranger');
    const ambassador = await ambassadorWith('--certificate-authority', stranger.caFile);
    const res = await send(ambassador.port, 'GET', '/api/v1/pods');
    expect(res.status).toBe(503);
    expect(res.json()).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable', code: 503 });
    expect(String(res.json()['message'])).toContain('does not verify against the cluster CA');
    expect(cluster.api.requests.some((r) => r.url === '/api/v1/pods')).toBe(false);
  });

  it('picks up a rotated CA file without a restart', async () => {
    const ambassador = await ambassadorWith('--credential-refresh-interval', '100ms');
    expect((await send(ambassador.port, 'GET', '/version')).status).toBe(200);
    const rotated = await createPki(cluster.dir, 'rotated');
    cluster.api.setCertificate(rotated.certPem, rotated.keyPem);
    await writeFile(cluster.pki.caFile, rotated.caPem);
    await ambassador.waitForLog((line) => String(line.msg).includes('CA or client certificate changed'));
    const res = await send(ambassador.port, 'GET', '/version?after=ca-rotation');
    expect(res.status).toBe(200);
  });
});

describe('upstream faults', () => {
  it('answers 503 while the API server is down, and recovers when it is back', async () => {
    const ambassador = await ambassadorWith();
    await cluster.api.stop();
    // The start-up SelfSubjectReview (for the audit user) left a connection open, which the stop
    // closes under the ambassador: until it notices, a request may be cut on it, also a 503.
    expect((await send(ambassador.port, 'GET', '/api/v1/pods')).status).toBe(503);
    await expect
      .poll(
        async () => {
          const down = await send(ambassador.port, 'GET', '/api/v1/pods');
          return `${down.status} ${String(down.json()['message'])}`;
        },
        { timeout: 5000 },
      )
      .toMatch(/^503 .*refused the connection \(ECONNREFUSED\)/);
    const readyz = await fetch(`${ambassador.adminUrl}/readyz`);
    expect(readyz.status).toBe(503);
    await cluster.api.start();
    expect((await send(ambassador.port, 'GET', '/api/v1/pods')).status).toBe(200);
    expect((await fetch(`${ambassador.adminUrl}/readyz`)).status).toBe(200);
  });

  it('ends a watch cleanly when the API server restarts, so the client watches again', async () => {
    const ambassador = await ambassadorWith();
    cluster.api.putPod('default', 'before-restart');
    const firstWatch = await new Promise<{ ended: Promise<string> }>((resolve, reject) => {
      request(
        {
          host: '127.0.0.1',
          port: ambassador.port,
          path: '/api/v1/namespaces/default/pods?watch=1',
          headers: { host: 'localhost' },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
          const ended = new Promise<string>((done, failed) => {
            res.on('end', () => done(body));
            res.on('error', failed);
          });
          resolve({ ended });
        },
      )
        .on('error', reject)
        .end();
    });
    await cluster.api.waitForRequest((r) => r.url === '/api/v1/namespaces/default/pods?watch=1');
    await cluster.api.stop();
    expect(await firstWatch.ended).toContain('"name":"before-restart"'); // ended, not aborted
    await cluster.api.start();
    const again = await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1');
    expect(again.status).toBe(200);
    expect(again.text).toContain('"name":"before-restart"');
  });

  it('answers 504 when the API server does not start answering in time', async () => {
    const ambassador = await ambassadorWith('--upstream-timeout', '300ms');
    cluster.api.script((_, url) => url === '/api/v1/namespaces/default/pods/slow', 'hang');
    const res = await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods/slow');
    expect(res.status).toBe(504);
    expect(res.json()).toMatchObject({ kind: 'Status', reason: 'Timeout', code: 504 });
  });

  it('ends the client stream when the API server resets mid-body', async () => {
    const ambassador = await ambassadorWith();
    cluster.api.script((_, url) => url === '/api/v1/namespaces/default/pods/broken', 'reset-mid-body');
    await expect(send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods/broken')).rejects.toThrow();
    expect((await send(ambassador.port, 'GET', '/version')).status).toBe(200);
  });
});

describe('kubeconfig credentials', () => {
  it('re-runs an exec credential plugin on the refresh timer, so a new token is used before the old expires', async () => {
    const kubeconfig = join(cluster.dir, 'exec-kubeconfig');
    const plugin = `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$(cat ${cluster.tokenFile})"`;
    await writeFile(
      kubeconfig,
      singleContextKubeconfig(
        { server: cluster.api.url, 'certificate-authority': cluster.pki.caFile },
        {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: 'sh',
            args: ['-c', plugin],
            interactiveMode: 'Never',
          },
        },
      ),
    );
    const ambassador = await startAmbassador(['--kubeconfig', kubeconfig, '--credential-refresh-interval', '100ms']);
    onTestFinished(async () => {
      await ambassador.stop();
    });
    expect((await send(ambassador.port, 'GET', '/version?plugin=1')).status).toBe(200);
    await cluster.rotateToken('plugin-rotated');
    await ambassador.waitForLog((line) => line.msg === 'credentials rotated');
    await send(ambassador.port, 'GET', '/version?plugin=2');
    const seen = await cluster.api.waitForRequest((r) => r.url === '/version?plugin=2');
    expect(seen.headers.authorization).toBe('Bearer plugin-rotated');
    expect(cluster.api.requests.filter((r) => r.url === '/version?plugin=2')).toHaveLength(1); // no 401 retry was needed
  });

  it('authenticates with a kubeconfig client certificate', async () => {
    const withCerts = await startTestCluster({ clientCertificates: true });
    onTestFinished(() => withCerts.close());
    const client = await issueClientCert(withCerts.pki, 'alice');
    const kubeconfig = join(withCerts.dir, 'cert-kubeconfig');
    await writeFile(
      kubeconfig,
      singleContextKubeconfig(
        {
          server: withCerts.api.url,
          'certificate-authority-data': Buffer.from(withCerts.pki.caPem).toString('base64'),
        },
        { 'client-certificate': client.certFile, 'client-key': client.keyFile },
      ),
    );
    const ambassador = await startAmbassador(['--kubeconfig', kubeconfig]);
    onTestFinished(async () => {
      await ambassador.stop();
    });
    expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods?cert=1')).status).toBe(200);
    const seen = await withCerts.api.waitForRequest((r) => r.url.endsWith('?cert=1'));
    expect(seen.user).toBe('alice');
    expect(seen.headers.authorization).toBeUndefined();
  });
});
