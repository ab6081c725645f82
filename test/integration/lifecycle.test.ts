import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanEnv, NODE_FLAGS, runAmbassador, spawnAmbassador, startAmbassador } from '../support/ambassador.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { curl, send } from '../support/http.ts';
import { singleContextKubeconfig } from '../support/kubectl.ts';

let cluster: TestCluster;

beforeEach(async () => {
  cluster = await startTestCluster();
});

afterEach(async () => {
  await cluster.close();
});

describe('start-up', () => {
  it('exits 2 with one clear sentence when it finds no cluster', async () => {
    const { code, stderr } = await runAmbassador([]);
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /^kube-api-ambassador: No cluster found: looked for the --server and --kubeconfig flags, in-cluster settings .*kubeconfig at .*\.kube\/config\.\n$/,
    );
  });

  it('lists every invalid option at once, naming each, and exits 2', async () => {
    const { code, stderr } = await runAmbassador(
      ['--port', 'eighty', '--upstream-timeout', '5q', '--accept-paths', '(', '--nope'],
      cleanEnv({ KUBE_API_AMBASSADOR_LOG_LEVEL: 'loud' }),
    );
    expect(code).toBe(2);
    for (const expected of [
      '--nope: unknown flag',
      '--port: must be a port number',
      '--upstream-timeout: must be a duration',
      '--accept-paths: "(" is not a valid regular expression',
      'KUBE_API_AMBASSADOR_LOG_LEVEL: must be one of',
    ]) {
      expect(stderr).toContain(expected);
    }
  });

  it('exits 2 when the token file is missing', async () => {
    const { code, stderr } = await runAmbassador([
      ...cluster.ambassadorArgs,
      '--token-file',
      join(cluster.dir, 'absent'),
    ]);
    expect(code).toBe(2);
    expect(stderr).toContain(`cannot load credentials from the --server flag`);
    expect(stderr).toContain('ENOENT');
  });

  it('documents every option with its environment variable in --help', async () => {
    const { code, stdout } = await runAmbassador(['--help']);
    expect(code).toBe(0);
    for (const flag of [
      '--port',
      '--address',
      '--unix-socket',
      '--accept-hosts',
      '--accept-paths',
      '--reject-paths',
      '--reject-methods',
      '--disable-filter',
      '--api-prefix',
      '--keepalive',
      '--server',
      '--kubeconfig',
      '--context',
      '--service-account-dir',
      '--upstream-timeout',
      '--admin-port',
      '--shutdown-grace-period',
    ]) {
      expect(stdout).toContain(flag);
    }
    expect(stdout).toContain('[KUBE_API_AMBASSADOR_ACCEPT_HOSTS]');
  });

  it('lists the policy commands in --help, and answers help as --help', async () => {
    const { stdout } = await runAmbassador(['--help']);
    expect(stdout).toMatch(/^ {2}policy check --policy FILE /m);
    expect(stdout).toMatch(/^ {2}policy learn /m);
    const help = await runAmbassador(['help']);
    expect(help).toEqual({ code: 0, stdout, stderr: '' });
  });

  it('suggests the flag meant for a misspelt one', async () => {
    const { code, stderr } = await runAmbassador(['--prot', '19005']);
    expect(code).toBe(2);
    expect(stderr).toContain('  --prot: unknown flag, did you mean --port? (see --help)\n');
  });

  it.each<[string, (port: number) => string[], string]>([
    ['the proxy', (port) => ['--port', String(port)], 'the proxy on 127.0.0.1:PORT (--address, --port)'],
    [
      'the probes and metrics',
      (port) => ['--port', '0', '--admin-address', '127.0.0.1', '--admin-port', String(port)],
      'the probes and metrics on 127.0.0.1:PORT (--admin-address, --admin-port)',
    ],
  ])('says in one line, without a stack, that %s cannot listen on a port in use', async (_, flags, names) => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as AddressInfo).port;
      const { code, stdout, stderr } = await runAmbassador([...cluster.ambassadorArgs, ...flags(port)]);
      expect(code).toBe(1);
      expect(stderr).toBe(
        `kube-api-ambassador: cannot listen for ${names.replace('PORT', String(port))}: the address is in use, by another process or another ambassador\n`,
      );
      expect(stdout).not.toContain('"stack"');
    } finally {
      taken.close();
    }
  });

  it('takes options from environment variables, flags winning', async () => {
    // The harness passes --port 0, which must win over the variable's port 1.
    const ambassador = await startAmbassador(
      cluster.ambassadorArgs,
      cleanEnv({ KUBE_API_AMBASSADOR_API_PREFIX: '/k8s/', KUBE_API_AMBASSADOR_PORT: '1' }),
    );
    try {
      expect(ambassador.port).not.toBe(1);
      const res = await send(ambassador.port, 'GET', '/k8s/api/v1/namespaces/default/pods');
      expect(res.status).toBe(200);
      await cluster.api.waitForRequest((r) => r.url === '/api/v1/namespaces/default/pods');
      expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods')).status).toBe(404);
    } finally {
      await ambassador.stop();
    }
  });
});

it('is started with the same Node flags by npm start as by these tests', async () => {
  const manifest = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
    scripts: Record<string, string>;
  };
  expect(manifest.scripts['start']).toBe(`node ${NODE_FLAGS.join(' ')} src/main.ts`);
});

it("warns at start when the pod uses host networking (the Downward API's pod and host IPs are equal)", async () => {
  const hostNetwork = await startAmbassador(
    cluster.ambassadorArgs,
    cleanEnv({ POD_IP: '10.0.0.7', HOST_IP: '10.0.0.7' }),
  );
  const podNetwork = await startAmbassador(
    cluster.ambassadorArgs,
    cleanEnv({ POD_IP: '10.244.1.9', HOST_IP: '10.0.0.7' }),
  );
  try {
    await hostNetwork.waitForLog(
      (line) => line.level === 'warn' && String(line.msg).startsWith('the pod uses host networking'),
    );
    expect(podNetwork.logs.some((line) => String(line.msg).startsWith('the pod uses host networking'))).toBe(false);
  } finally {
    await hostNetwork.stop();
    await podNetwork.stop();
  }
});

describe('listeners', () => {
  it('serves a Unix socket, created owner-only', async () => {
    const socketPath = join(cluster.dir, 'ambassador.sock');
    const ambassador = spawnAmbassador([
      ...cluster.ambassadorArgs,
      '--unix-socket',
      socketPath,
      '--admin-address',
      '127.0.0.1',
      '--admin-port',
      '0',
    ]);
    try {
      await ambassador.waitForLog((line) => line['proxy'] === socketPath);
      expect((await stat(socketPath)).mode & 0o077).toBe(0); // no access for group or others
      const { stdout } = await curl(['--unix-socket', socketPath, 'http://localhost/api/v1/namespaces/default/pods']);
      expect(JSON.parse(stdout)).toMatchObject({ kind: 'PodList' });
    } finally {
      await ambassador.stop();
    }
  });

  it('keeps /livez and /readyz on the probes listener, and the API off it', async () => {
    const ambassador = await startAmbassador(cluster.ambassadorArgs);
    try {
      expect(await (await fetch(`${ambassador.adminUrl}/livez`)).text()).toBe('ok');
      const readyz = await fetch(`${ambassador.adminUrl}/readyz`);
      expect(readyz.status).toBe(200);
      expect(await readyz.text()).toContain('[+]api-server ok');
      expect((await fetch(`${ambassador.adminUrl}/api/v1/pods`)).status).toBe(404);
      expect(cluster.api.requests.some((r) => r.url === '/api/v1/pods')).toBe(false);
    } finally {
      await ambassador.stop();
    }
  });
});

describe('SIGTERM', () => {
  it('lets an in-flight request finish, ends a watch cleanly, and exits 0', async () => {
    const ambassador = await startAmbassador([...cluster.ambassadorArgs, '--shutdown-grace-period', '20s']);
    cluster.api.putPod('default', 'drain');
    const watchEnded = new Promise<string>((resolve, reject) => {
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
          res.on('end', () => resolve(body));
          res.on('error', reject);
        },
      )
        .on('error', reject)
        .end();
    });
    await cluster.api.waitForRequest((r) => r.url === '/api/v1/namespaces/default/pods?watch=1');

    // An upload whose body is still arriving when SIGTERM comes must complete. "100 Continue" is
    // the proxy saying it has accepted the request and is handling it.
    const body = Buffer.from(
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'during-drain' } }),
    );
    let continued!: () => void;
    const accepted = new Promise<void>((resolve) => (continued = resolve));
    const upload = request({
      host: '127.0.0.1',
      port: ambassador.port,
      method: 'POST',
      path: '/api/v1/namespaces/default/configmaps',
      headers: {
        host: 'localhost',
        'content-type': 'application/json',
        'content-length': String(body.length),
        expect: '100-continue',
      },
    });
    const uploaded = new Promise<number>((resolve, reject) => {
      upload.on('continue', continued);
      upload.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      upload.on('error', reject);
    });
    upload.flushHeaders();
    await accepted;

    ambassador.child.kill('SIGTERM');
    await ambassador.waitForLog((line) => line.msg === 'shutting down: finishing in-flight requests');
    upload.end(body);

    expect(await uploaded).toBe(201);
    expect(await watchEnded).toContain('"name":"drain"');
    expect(await ambassador.exited).toBe(0);
    expect(cluster.api.openWatches()).toBe(0);
  });
});

describe('in-cluster and kubeconfig discovery', () => {
  async function serviceAccountDir(): Promise<string> {
    const dir = join(cluster.dir, 'serviceaccount');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'token'), await readFile(cluster.tokenFile));
    await writeFile(join(dir, 'ca.crt'), cluster.pki.caPem);
    await writeFile(join(dir, 'namespace'), 'team-a');
    return dir;
  }

  it('uses KUBERNETES_SERVICE_HOST/PORT and the service account folder', async () => {
    const dir = await serviceAccountDir();
    const env = cleanEnv({
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: String(cluster.api.port),
      KUBE_API_AMBASSADOR_SERVICE_ACCOUNT_DIR: dir,
    });
    const ambassador = await startAmbassador([], env);
    try {
      const serving = await ambassador.waitForLog((line) => typeof line['proxy'] === 'string');
      expect(serving['namespace']).toBe('team-a');
      expect(String(serving['cluster'])).toContain('in-cluster settings');
      expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/team-a/pods')).status).toBe(200);
    } finally {
      await ambassador.stop();
    }
  });

  it("takes a kubeconfig user's tokenFile, as kubectl does, and re-reads it as it rotates", async () => {
    const kubeconfig = join(cluster.dir, 'kubeconfig-token-file');
    await writeFile(
      kubeconfig,
      singleContextKubeconfig(
        { server: cluster.api.url, 'certificate-authority': cluster.pki.caFile },
        { tokenFile: cluster.tokenFile },
      ),
    );
    const ambassador = await startAmbassador(['--kubeconfig', kubeconfig, '--credential-refresh-interval', '100ms']);
    try {
      expect((await send(ambassador.port, 'GET', '/version?token-file=1')).status).toBe(200);
      expect((await cluster.api.waitForRequest((r) => r.url === '/version?token-file=1')).headers.authorization).toBe(
        'Bearer first-token',
      );
      await cluster.rotateToken('second-token');
      expect((await send(ambassador.port, 'GET', '/version?token-file=2')).status).toBe(200);
      // Answered 200 only with the new token: re-read on the timer, or at once after the old one's 401.
      expect(cluster.api.requests.filter((r) => r.url === '/version?token-file=2').at(-1)?.headers.authorization).toBe(
        'Bearer second-token',
      );
    } finally {
      await ambassador.stop();
    }
  });

  it("uses a kubeconfig's current context, or the one --context names", async () => {
    const kubeconfig = join(cluster.dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: 'test', cluster: { server: cluster.api.url, 'certificate-authority': cluster.pki.caFile } },
          { name: 'nowhere', cluster: { server: 'https://127.0.0.1:1', 'certificate-authority': cluster.pki.caFile } },
        ],
        users: [
          {
            name: 'exec-user',
            user: {
              exec: {
                apiVersion: 'client.authentication.k8s.io/v1',
                command: 'sh',
                args: [
                  '-c',
                  `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$(cat ${cluster.tokenFile})"`,
                ],
                interactiveMode: 'Never',
              },
            },
          },
        ],
        contexts: [
          { name: 'broken', context: { cluster: 'nowhere', user: 'exec-user' } },
          { name: 'working', context: { cluster: 'test', user: 'exec-user' } },
        ],
        'current-context': 'broken',
      }),
    );
    const ambassador = await startAmbassador(['--context', 'working'], cleanEnv({ KUBECONFIG: kubeconfig }));
    try {
      expect((await send(ambassador.port, 'GET', '/version?kubeconfig=1')).status).toBe(200);
      const seen = await cluster.api.waitForRequest((r) => r.url === '/version?kubeconfig=1');
      expect(seen.headers.authorization).toBe('Bearer first-token');
    } finally {
      await ambassador.stop();
    }
    const unknown = await runAmbassador(['--context', 'nope'], cleanEnv({ KUBECONFIG: kubeconfig }));
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('has no context "nope"; it has: broken, working');
  });
});
