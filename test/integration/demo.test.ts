import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { cleanEnv, type LogLine } from '../support/ambassador.ts';
import { curl } from '../support/http.ts';

interface Demo {
  readonly child: ChildProcess;
  /** localhost:PORT/version, from the curl lines the demo prints. */
  readonly versionUrl: string;
  /** The ambassador's log lines so far (the demo copies them to its stderr). */
  logs(): LogLine[];
  readonly exited: Promise<number | null>;
}

async function startDemo(args: readonly string[] = []): Promise<Demo> {
  const child = spawn(process.execPath, [new URL('../support/demo.ts', import.meta.url).pathname, ...args], {
    env: cleanEnv({ DEMO_PORT: '0', DEMO_ADMIN_PORT: '0' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let logged = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (logged += chunk));
  const logs = (): LogLine[] =>
    logged.split('\n').flatMap((line) => (line.startsWith('{') ? [JSON.parse(line) as LogLine] : []));
  const versionUrl = await new Promise<string>((resolve, reject) => {
    let printed = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      printed += chunk;
      const line = /curl (localhost:\d+\/version)\n/.exec(printed);
      if (line?.[1] !== undefined) resolve(line[1]);
    });
    void exited.then((code) => reject(new Error(`the demo exited ${code}: ${printed}${logged}`)));
  });
  return { child, versionUrl, logs, exited };
}

it('npm run demo serves the test API server through the ambassador and prints curl lines that work', async () => {
  const demo = await startDemo();
  try {
    expect(JSON.parse((await curl([demo.versionUrl])).stdout)).toMatchObject({ gitVersion: 'v1.33.0' });
    const pods = JSON.parse(
      (await curl([demo.versionUrl.replace('/version', '/api/v1/namespaces/default/pods')])).stdout,
    ) as { items: { metadata: { name: string } }[] };
    expect(pods.items.map((pod) => pod.metadata.name)).toEqual(['web', 'worker']);
  } finally {
    demo.child.kill('SIGTERM');
  }
  expect(await demo.exited).toBe(0);
});

it('npm run demo -- --policy: the RBAC check agrees with what the test API server allows, and the requests succeed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'demo-policy-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const policy = join(dir, 'policy.yaml');
  await writeFile(
    policy,
    'rules:\n  - { verbs: [get, list], apiGroups: [""], resources: [pods], namespaces: ["$(POD_NAMESPACE)"] }\n  - { verbs: [get], nonResourceURLs: [/version] }\n',
  );
  const demo = await startDemo(['--policy', policy]);
  try {
    await expect
      .poll(() => demo.logs().some((line) => String(line.msg).startsWith("the service account's RBAC grants")), {
        timeout: 10_000,
      })
      .toBe(true);
    const warnings = demo
      .logs()
      .filter((line) => line.level === 'warn')
      .map((line) => String(line.msg));
    // The server lets the token do anything: the one warning is that RBAC grants more than the policy uses.
    expect(warnings).toEqual([
      "the service account's RBAC grants every verb (*) on every resource (*) in default, which the policy never uses: narrow the Role or ClusterRole (RBAC rule verbs: [*], apiGroups: [*], resources: [*])",
    ]);
    expect(JSON.parse((await curl([demo.versionUrl])).stdout)).toMatchObject({ gitVersion: 'v1.33.0' });
    const pods = JSON.parse(
      (await curl([demo.versionUrl.replace('/version', '/api/v1/namespaces/default/pods')])).stdout,
    ) as { items: unknown[] };
    expect(pods.items).toHaveLength(2);
  } finally {
    demo.child.kill('SIGTERM');
  }
  expect(await demo.exited).toBe(0);
});
