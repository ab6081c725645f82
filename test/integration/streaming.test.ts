import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClusterAndAmbassador, stopClusterAndAmbassador, type RunningAmbassador } from '../support/ambassador.ts';
import type { TestCluster } from '../support/cluster.ts';
import { parseRawResponse, send, sendRaw } from '../support/http.ts';
import { spawn } from 'node:child_process';
import { kubectl, kubectlEnv, startKubectl, writeProxyKubeconfig } from '../support/kubectl.ts';

let cluster: TestCluster;
let ambassador: RunningAmbassador;
let kubeconfig: string;

beforeAll(async () => {
  // exec and attach are refused by kubectl proxy's default --reject-paths; these tests need them.
  ({ cluster, ambassador } = await startClusterAndAmbassador(['--reject-paths', '', '--upstream-timeout', '1s']));
  kubeconfig = await writeProxyKubeconfig(cluster.dir, ambassador.url);
  cluster.api.putPod('default', 'web');
});

afterAll(() => stopClusterAndAmbassador({ cluster, ambassador }));

/** Opens a streaming GET and hands back the response plus a reader that waits for text to arrive. */
function openStream(
  path: string,
): Promise<{ response: IncomingMessage; waitFor: (text: string) => Promise<string>; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: ambassador.port, path, headers: { host: 'localhost' } },
      (response) => {
        let received = '';
        const waiters: { text: string; done: (all: string) => void }[] = [];
        response.setEncoding('utf8').on('data', (chunk: string) => {
          received += chunk;
          for (const waiter of waiters.splice(0)) {
            if (received.includes(waiter.text)) waiter.done(received);
            else waiters.push(waiter);
          }
        });
        resolve({
          response,
          waitFor: (text) =>
            received.includes(text) ? Promise.resolve(received) : new Promise((done) => waiters.push({ text, done })),
          close: () => req.destroy(),
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('watch and log streams', () => {
  it('delivers watch events as they happen, with the headers sent at once', async () => {
    const watch = await openStream('/api/v1/namespaces/default/pods?watch=true&resourceVersion=0');
    expect(watch.response.statusCode).toBe(200);
    cluster.api.putPod('default', 'arrives-later');
    expect(await watch.waitFor('"name":"arrives-later"')).toContain('"type":"ADDED"');
    cluster.api.deletePod('default', 'arrives-later');
    expect(await watch.waitFor('"type":"DELETED"')).toContain('arrives-later');
    watch.close();
  });

  it('has no timeout on a watch, though ordinary requests have one', async () => {
    const watch = await openStream('/api/v1/watch/namespaces/default/pods');
    cluster.api.script((_, url) => url === '/api/v1/namespaces/default/pods/hangs', 'hang');
    const timedOut = await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods/hangs');
    expect(timedOut.status).toBe(504); // a full --upstream-timeout has now passed
    cluster.api.putPod('default', 'after-timeout');
    expect(await watch.waitFor('"name":"after-timeout"')).toContain('"type":"ADDED"');
    watch.close();
  });

  it('closes the upstream watch when the client goes away', async () => {
    await expect.poll(() => cluster.api.openWatches(), { timeout: 5000 }).toBe(0); // earlier tests' watches
    const watch = await openStream('/api/v1/namespaces/default/pods?watch=1');
    await watch.waitFor('"name":"web"');
    expect(cluster.api.openWatches()).toBe(1);
    watch.close();
    await expect.poll(() => cluster.api.openWatches(), { timeout: 5000 }).toBe(0);
  });

  it('follows a log line by line', async () => {
    const follow = await openStream('/api/v1/namespaces/default/pods/web/log?follow=true');
    cluster.api.appendLog('default', 'web', 'first line');
    await follow.waitFor('first line\n');
    cluster.api.appendLog('default', 'web', 'second line');
    expect(await follow.waitFor('second line\n')).toBe('first line\nsecond line\n');
    follow.close();
  });

  it('follows a log with kubectl logs -f', async () => {
    cluster.api.putPod('default', 'logger');
    cluster.api.appendLog('default', 'logger', 'hello from the pod');
    const logs = await startKubectl(kubeconfig, ['logs', '-f', 'logger'], /hello from the pod/);
    cluster.api.appendLog('default', 'logger', 'goodbye');
    cluster.api.endLogs('default', 'logger');
    const code = await new Promise<number | null>((resolve) => logs.child.once('exit', resolve));
    expect(code).toBe(0);
    expect(logs.output()).toBe('hello from the pod\ngoodbye\n');
  });
});

describe.each([
  ['WebSocket', {}],
  ['SPDY', { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false', KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }],
])('kubectl exec and port-forward over %s', (transport, env: Record<string, string>) => {
  it('runs a command', async () => {
    const result = await kubectl(kubeconfig, ['exec', 'web', '--', 'echo', 'hello', transport], { env });
    expect(result).toMatchObject({ code: 0, stdout: `hello ${transport}\n` });
    const upgrade = await cluster.api.waitForRequest((r) => r.upgrade && r.url.includes(`command=${transport}`));
    expect(upgrade.headers.upgrade?.toLowerCase()).toBe(transport === 'WebSocket' ? 'websocket' : 'spdy/3.1');
    expect(upgrade.headers.authorization).toBe('Bearer first-token');
  });

  it('carries stdin and the exit code', async () => {
    const echoed = await kubectl(kubeconfig, ['exec', '-i', 'web', '--', 'cat'], { env, input: 'piped through\n' });
    expect(echoed).toMatchObject({ code: 0, stdout: 'piped through\n' });
    const failed = await kubectl(kubeconfig, ['exec', 'web', '--', 'exit', '3'], { env });
    expect(failed.code).toBe(3);
  });

  it('forwards a port', async () => {
    const forwarder = await startKubectl(
      kubeconfig,
      ['port-forward', 'pod/web', ':8080'],
      /Forwarding from 127\.0\.0\.1:(\d+) -> 8080/,
      env,
    );
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(forwarder.match[1]), '127.0.0.1', () => socket.write('ping through the tunnel'));
        let received = '';
        socket.setEncoding('utf8').on('data', (chunk: string) => {
          received += chunk;
          if (received.length >= 'ping through the tunnel'.length) {
            socket.end();
            resolve(received);
          }
        });
        socket.on('error', reject);
      });
      expect(reply).toBe('ping through the tunnel');
    } finally {
      forwarder.child.kill();
    }
  });
});

describe('clients that leave mid-session', () => {
  it('closes the tunnel when kubectl exec is killed mid-session', async () => {
    const execGauge = async (): Promise<string | undefined> =>
      /^kube_api_ambassador_long_running_requests\{kind="exec"\} (\d+)/m.exec(
        await (await fetch(`${ambassador.adminUrl}/metrics`)).text(),
      )?.[1];
    const session = spawn('kubectl', ['exec', '-i', 'web', '--', 'cat'], {
      env: kubectlEnv(kubeconfig),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const echoed = new Promise<void>((resolve) => session.stdout.once('data', () => resolve()));
    session.stdin.write('still here\n');
    await echoed; // the session is up, end to end
    expect(await execGauge()).toBe('1');
    session.kill('SIGKILL');
    await expect.poll(execGauge, { timeout: 5000 }).toBeUndefined();
  });
});

describe('refused upgrades', () => {
  it("relays the API server's refusal and closes, never joining the sockets", async () => {
    cluster.api.script((_, url) => url.includes('/pods/web/exec') && url.includes('command=refused'), {
      status: 403,
      headers: { 'content-type': 'application/json' },
      body: '{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,"message":"exec is not allowed"}',
    });
    const raw = await sendRaw(
      ambassador.port,
      'GET /api/v1/namespaces/default/pods/web/exec?command=refused&stdout=true HTTP/1.1\r\n' +
        `Host: localhost:${ambassador.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n' +
        'GET /api/v1/namespaces/kube-system/secrets HTTP/1.1\r\nHost: localhost\r\n\r\n',
    );
    expect(parseRawResponse(raw)).toMatchObject({ status: 403, body: { message: 'exec is not allowed' } });
    expect(raw).toContain('connection: close');
    expect(raw.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(cluster.api.requests.some((r) => r.url === '/api/v1/namespaces/kube-system/secrets')).toBe(false);
  });
});
