import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPolicyCommand } from '../../src/cli/policy-command.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'policy-command-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function policyFile(name: string, yaml: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, yaml);
  return file;
}

async function run(
  argv: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  err.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await runPolicyCommand(argv, env, new PassThrough(), out, err);
  return { code, stdout, stderr };
}

describe('policy check, as a new user first runs it', () => {
  it('says $(POD_NAMESPACE) needs --pod-namespace when neither it nor POD_NAMESPACE is given', async () => {
    const file = await policyFile(
      'own.yaml',
      'rules:\n  - { verbs: [get], apiGroups: [""], resources: [pods], namespaces: ["$(POD_NAMESPACE)"] }\n',
    );
    const { code, stderr } = await run(['check', '--policy', file, 'GET', '/api/v1/namespaces/team-a/pods/web']);
    expect(code).toBe(2);
    expect(stderr).toContain(
      'rules[0].namespaces: $(POD_NAMESPACE) needs --pod-namespace NS (or the POD_NAMESPACE variable)\n',
    );
    expect(
      (await run(['check', '--policy', file, '--pod-namespace', 'team-a', 'GET', '/api/v1/namespaces/team-a/pods/web']))
        .code,
    ).toBe(0);
    expect(
      (await run(['check', '--policy', file, 'GET', '/api/v1/namespaces/team-a/pods/web'], { POD_NAMESPACE: 'team-a' }))
        .code,
    ).toBe(0);
  });

  it('warns about misspelt verbs, naming the verb meant, and still decides', async () => {
    const file = await policyFile(
      'typos.yaml',
      'rules:\n  - { name: read, verbs: [get, lsit, wacth], apiGroups: [""], resources: [pods] }\n',
    );
    const get = await run(['check', '--policy', file, 'GET', '/api/v1/namespaces/team-a/pods/web']);
    expect(get.code).toBe(0);
    const warnings = get.stderr.split('\n').filter((line) => line.startsWith('warning: '));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain(
      'warning: rules[0].verbs: "lsit" is not the verb of any resource request (did you mean list?)',
    );
    expect(warnings[1]).toContain('"wacth" is not the verb of any resource request (did you mean watch?)');
    const list = await run(['check', '--policy', file, 'GET', '/api/v1/namespaces/team-a/pods']);
    expect(list.code).toBe(3);
  });

  it('suggests the flag meant for a misspelt one', async () => {
    const { code, stderr } = await run(['check', '--polcy', 'p.yaml', 'GET', '/version']);
    expect(code).toBe(2);
    expect(stderr.split('\n')[0]).toBe('--polcy: unknown flag, did you mean --policy?');
    expect((await run(['check', '--pod-namespce=x'])).stderr.split('\n')[0]).toBe(
      '--pod-namespce=x: unknown flag, did you mean --pod-namespace?',
    );
  });

  it('answers policy help with the usage of both commands', async () => {
    const { code, stdout } = await run(['help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: kube-api-ambassador policy check');
    expect(stdout).toContain('Usage: kube-api-ambassador policy learn');
  });
});
