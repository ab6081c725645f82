/**
 * `policy learn` and `policy replay` on kube-apiserver's audit log, run as a user runs them: the
 * real CLI on a file (test/fixtures/apiserver-audit.log: a Job launcher's service account among
 * other users, in the log backend's format) and on stdin (a webhook backend's EventList batches).
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, NODE_FLAGS, runAmbassador } from '../support/ambassador.ts';
import { SERVICE_ACCOUNT } from '../support/apiserver-audit.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;
const LOG = new URL('../fixtures/apiserver-audit.log', import.meta.url).pathname;
const COREDNS = 'system:serviceaccount:kube-system:coredns';

async function runWithStdin(
  args: readonly string[],
  input: string,
  cwd?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...NODE_FLAGS, MAIN, ...args], {
    env: cleanEnv(),
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(input);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, stdout, stderr };
}

let dir: string;
let policyFile: string;
let learned: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'apiserver-audit-'));
  policyFile = join(dir, 'policy.yaml');
  const run = await runAmbassador(['policy', 'learn', '--user', SERVICE_ACCOUNT, LOG]);
  expect(run).toMatchObject({ code: 0, stderr: '' });
  learned = run.stdout;
  await writeFile(policyFile, learned);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("policy learn on kube-apiserver's audit log", () => {
  it('learns the allowed requests of one service account, with its namespace as $(POD_NAMESPACE)', () => {
    expect(learned).toContain(`(kube-apiserver's audit log) for ${SERVICE_ACCOUNT}; review it before enforcing it.`);
    expect(learned).toContain(
      '  - verbs: [get, create]\n    apiGroups: [batch]\n    resources: [jobs]\n    namespaces: ["$(POD_NAMESPACE)"]',
    );
    expect(learned).toContain(
      '#   1 × list on resource "secrets" in API group "" in the namespace "kube-system": forbidden',
    );
    expect(learned).not.toContain('deployments');
    expect(learned).not.toContain('endpointslices');
  });

  it('without --user, names the users the log holds', async () => {
    const run = await runAmbassador(['policy', 'learn', LOG]);
    expect(run).toMatchObject({ code: 2, stdout: '' });
    expect(run.stderr).toBe(
      `${LOG} holds the requests of 3 users: choose one with --user; the users it holds:\n  ${SERVICE_ACCOUNT}: 17 requests\n  kubernetes-admin: 2 requests\n  ${COREDNS}: 2 requests\n`,
    );
  });

  it("reads stdin, and a webhook backend's EventList batches", async () => {
    const events = (await readFile(LOG, 'utf8')).trimEnd().split('\n');
    const batches = [events.slice(0, 10), events.slice(10)].map((items) =>
      JSON.stringify({
        kind: 'EventList',
        apiVersion: 'audit.k8s.io/v1',
        metadata: {},
        items: items.map((item) => JSON.parse(item) as unknown),
      }),
    );
    const run = await runWithStdin(['policy', 'learn', '--user', SERVICE_ACCOUNT, '-'], `${batches.join('\n')}\n`);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toBe(learned.replace(`from ${LOG} (`, 'from stdin ('));
  });

  it('says when --user made no request', async () => {
    const run = await runAmbassador(['policy', 'learn', '--user', 'system:serviceaccount:team-a:nobody', LOG]);
    expect(run).toMatchObject({
      code: 1,
      stdout: '',
      stderr: expect.stringContaining(
        `no requests of system:serviceaccount:team-a:nobody in ${LOG}; the users it holds:`,
      ) as unknown,
    });
  });
});

describe('policy replay', () => {
  it('replays the log a policy was learned from with nothing refused: exit code 0', async () => {
    const run = await runAmbassador(['policy', 'replay', '--policy', policyFile, '--user', SERVICE_ACCOUNT, LOG]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toBe(
      `16 requests of ${SERVICE_ACCOUNT} in ${LOG} decided against ${policyFile}: 16 allowed, 0 refused.\nNot decided: 1 the server refused when it was made.\n`,
    );
  });

  it("refuses the other accounts' requests: exit code 3, grouped, with an example", async () => {
    const run = await runAmbassador(['policy', 'replay', '--policy', policyFile, '--user', COREDNS, LOG]);
    expect(run).toMatchObject({ code: 3, stderr: '' });
    expect(run.stdout).toBe(
      [
        `2 requests of ${COREDNS} in ${LOG} decided against ${policyFile}: 0 allowed, 2 refused.`,
        '',
        'Refused:',
        'VERB   RESOURCE                         NAMESPACE    COUNT  EXAMPLE                                                                                             RULE  FAILED CONDITION',
        'list   services                         kube-system  1      /api/v1/namespaces/kube-system/services?limit=500                                                   -     no rule allows it',
        'watch  endpointslices.discovery.k8s.io  -            1      /apis/discovery.k8s.io/v1/endpointslices?allowWatchBookmarks=true&resourceVersion=48100&watch=true  -     no rule allows it',
        '',
      ].join('\n'),
    );
  });

  it('gates a policy change in CI: a narrower policy refuses what the app did, from stdin too', async () => {
    const narrower = join(dir, 'narrower.yaml');
    await writeFile(
      narrower,
      learned.replace('  - verbs: [get, create]\n    apiGroups: [batch]', '  - verbs: [get]\n    apiGroups: [batch]'),
    );
    const run = await runWithStdin(
      ['policy', 'replay', '--policy', narrower, '--pod-namespace', 'team-a', '--user', SERVICE_ACCOUNT, '-'],
      await readFile(LOG, 'utf8'),
    );
    expect(run).toMatchObject({ code: 3, stderr: '' });
    expect(run.stdout).toContain('15 allowed, 1 refused.');
    expect(run.stdout).toMatch(
      /^create {2}jobs\.batch +team-a +1 +\/apis\/batch\/v1\/namespaces\/team-a\/jobs\?fieldManager=analytics +- +no rule allows it$/m,
    );
  });

  it('says what is wrong with its input, with exit code 1 or 2', async () => {
    expect(await runAmbassador(['policy', 'replay', LOG])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('Usage: kube-api-ambassador policy replay') as unknown,
    });
    expect(await runAmbassador(['policy', 'replay', '--policy', join(dir, 'missing.yaml'), LOG])).toMatchObject({
      code: 2,
    });
    expect(
      await runAmbassador([
        'policy',
        'replay',
        '--policy',
        policyFile,
        '--user',
        SERVICE_ACCOUNT,
        join(dir, 'missing.log'),
      ]),
    ).toMatchObject({ code: 2, stderr: expect.stringContaining('cannot read') as unknown });
    expect(
      await runAmbassador(['policy', 'check', '--policy', policyFile, '--user', SERVICE_ACCOUNT, 'GET', '/version']),
    ).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--user is for policy learn and policy replay') as unknown,
    });
    const empty = join(dir, 'empty.log');
    await writeFile(empty, '');
    expect(
      await runAmbassador(['policy', 'replay', '--policy', policyFile, '--user', SERVICE_ACCOUNT, empty]),
    ).toMatchObject({ code: 1, stderr: `no audit events in ${empty}\n` });
  });

  it('is in policy --help, with learn', async () => {
    const run = await runAmbassador(['policy', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      'Usage: kube-api-ambassador policy learn [--pod-namespace NS] [--user USER] AUDIT_LOG',
    );
    expect(run.stdout).toContain(
      'Usage: kube-api-ambassador policy replay --policy FILE [--pod-namespace NS] [--user USER] AUDIT_LOG',
    );
  });
});

describe('the workflow docs/policy-history.md shows', () => {
  const README = new URL('../../docs/policy-history.md', import.meta.url).pathname;
  const REVIEWED_EXEC =
    '    namespaces: ["$(POD_NAMESPACE)"]\n    when: { containers: [main], commands: [[cat, /tmp/result.json]], stdin: false, tty: false }\n';

  /** The lines a block of the page shows after `$ COMMAND`, up to the next `$ ` line or the block's end. */
  function shownOutput(readme: string, command: string): string {
    const start = readme.indexOf(`$ ${command}\n`);
    if (start === -1) throw new Error(`docs/policy-history.md does not run ${command}`);
    const rest = readme.slice(start + command.length + 3);
    return rest.slice(0, rest.search(/^(?:\$ |```)/m));
  }

  it('shows what the CLI prints for the fixture log, saved as audit.log', async () => {
    const readme = await readFile(README, 'utf8');
    await copyFile(LOG, join(dir, 'audit.log'));
    const run = (args: readonly string[]) => runWithStdin(args, '', dir);
    const learnAll = await run(['policy', 'learn', 'audit.log']);
    expect(learnAll.stderr).toBe(shownOutput(readme, 'kube-api-ambassador policy learn audit.log'));
    const policy = await run(['policy', 'learn', '--user', SERVICE_ACCOUNT, 'audit.log']);
    expect(readme).toContain(`\`\`\`yaml\n${policy.stdout}\`\`\``);
    const execRule = '    resources: [pods/exec]\n    namespaces: ["$(POD_NAMESPACE)"]\n';
    const reviewed = policy.stdout.replace(
      execRule,
      execRule.replace('    namespaces: ["$(POD_NAMESPACE)"]\n', REVIEWED_EXEC),
    );
    await writeFile(join(dir, 'policy.yaml'), reviewed);
    const narrower = reviewed
      .replace('[[cat, /tmp/result.json]]', '[[cat, /tmp/report.json]]')
      .replace(
        '  # 1 request\n  - verbs: [list]\n    apiGroups: [""]\n    resources: [configmaps]\n    namespaces: [team-b]\n',
        '',
      );
    await writeFile(join(dir, 'narrower.yaml'), narrower);
    for (const file of ['policy.yaml', 'narrower.yaml']) {
      const command = `kube-api-ambassador policy replay --policy ${file} --user ${SERVICE_ACCOUNT} audit.log; echo "exit $?"`;
      const replayed = await run(['policy', 'replay', '--policy', file, '--user', SERVICE_ACCOUNT, 'audit.log']);
      expect(`${replayed.stdout}exit ${replayed.code}\n`).toBe(shownOutput(readme, command));
    }
  });
});
