/**
 * Security review finding 2: no credential reaches a log line or an error message. Broken
 * kubeconfigs and token files that hold a known secret are given to the real CLI at start and
 * swapped in on a reload; every line it writes (stdout and stderr) is searched for the secret,
 * raw and in base64, and each error must still say where the problem is (file, line, column).
 */
import { randomBytes } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAmbassador, startAmbassador, type RunningAmbassador } from '../support/ambassador.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { send } from '../support/http.ts';
import { issueClientCert } from '../support/pki.ts';

const SECRET = `Sekr3t-${randomBytes(12).toString('hex')}`;
const RELOAD_FAILED = 'cannot reload credentials; keeping the last good ones';
const EXEC_API = 'client.authentication.k8s.io/v1';

let cluster: TestCluster;

beforeEach(async () => {
  cluster = await startTestCluster();
});

afterEach(async () => {
  await cluster.close();
});

/** Every spelling of `secret` a leak could take: as is, and in base64 or base64url. */
function spellings(secret: string): string[] {
  const bytes = Buffer.from(secret);
  return [secret, bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('base64').replace(/=+$/, '')];
}

/**
 * Any 8 characters in a row of a forbidden string: js-yaml's excerpt cuts long lines short
 * ("token: Sekr3t-7b7a7ea6 ..."), so a search for the whole secret would miss half of it.
 */
const LEAK_WINDOW = 8;

function leakedPart(output: string, forbidden: readonly string[]): string | undefined {
  for (const secret of forbidden) {
    for (let start = 0; start + LEAK_WINDOW <= secret.length; start++) {
      const part = secret.slice(start, start + LEAK_WINDOW);
      if (output.includes(part)) return part;
    }
  }
  return undefined;
}

function expectNoLeak(output: string, extra: readonly string[] = []): void {
  expect(leakedPart(output, [...spellings(SECRET), ...spellings('first-token'), ...extra])).toBeUndefined();
}

/** A kubeconfig as YAML text, `userLines` from line 10 on (after `- name: u` on line 9). */
function kubeconfigYaml(userLines: readonly string[]): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: c',
    '  cluster:',
    `    server: ${cluster.api.url}`,
    `    certificate-authority: ${cluster.pki.caFile}`,
    'users:',
    '- name: u',
    ...userLines,
    'contexts:',
    '- name: x',
    '  context:',
    '    cluster: c',
    '    user: u',
    'current-context: x',
    '',
  ].join('\n');
}

function execUser(script: string): string[] {
  return [
    '  user:',
    '    exec:',
    `      apiVersion: ${EXEC_API}`,
    '      command: sh',
    `      args: ["-c", ${JSON.stringify(script)}]`,
  ];
}

function execCredential(status: Record<string, unknown>, apiVersion = EXEC_API): string {
  return JSON.stringify({ apiVersion, kind: 'ExecCredential', status });
}

interface Case {
  readonly name: string;
  /** The kubeconfig's text; it may write files it refers to into `dir`. */
  readonly kubeconfig: (dir: string) => Promise<string>;
  /** What the error must say, given the kubeconfig's path. */
  readonly says: (file: string) => string;
  /** More strings that must not be written (a bad key's own bytes, say). */
  readonly alsoSecret?: readonly string[];
}

const badKeyData = Buffer.from(
  `-----BEGIN PRIVATE KEY-----\n${Buffer.from(SECRET.repeat(4)).toString('base64')}\n-----END PRIVATE KEY-----\n`,
).toString('base64');
const yaml = (lines: readonly string[]) => () => Promise.resolve(kubeconfigYaml(lines));

const CASES: readonly Case[] = [
  {
    name: 'a bad indentation on the line after the token',
    kubeconfig: yaml(['  user:', `    token: ${SECRET}`, '   bad: x']),
    says: (f) => `${f} is not valid YAML at line 12, column 4: bad indentation of a mapping entry`,
  },
  {
    name: 'an unclosed quote on the token line',
    kubeconfig: yaml(['  user:', `    token: "${SECRET}`]),
    says: (f) => `${f} is not valid YAML at line `,
  },
  {
    name: 'a tab before the token',
    kubeconfig: yaml(['  user:', `\ttoken: ${SECRET}`]),
    says: (f) => `${f} is not valid YAML at line 11, column `,
  },
  {
    name: 'the token written as a YAML tag',
    kubeconfig: yaml(['  user:', `    token: !${SECRET} x`]),
    says: (f) => `${f} is not valid YAML at line 11, column `,
  },
  {
    name: 'the token written as a YAML alias',
    kubeconfig: yaml(['  user:', `    token: *${SECRET}`]),
    says: (f) => `${f} is not valid YAML at line 11, column `,
  },
  {
    name: 'a missing colon on the line before the token',
    kubeconfig: yaml(['  user', `    token: ${SECRET}`]),
    says: (f) => `${f} is not valid YAML at line 11, column `,
  },
  {
    name: 'bad JSON',
    kubeconfig: () =>
      Promise.resolve(`{"apiVersion": "v1", "users": [{"name": "u", "user": {"token": "${SECRET}",, }}]`),
    says: (f) => `${f} is not valid YAML at line 1, column `,
  },
  {
    name: 'the token as a list',
    kubeconfig: yaml(['  user:', `    token: [${SECRET}]`]),
    says: (f) => `${f}: users[0].user.token must be a string`,
  },
  {
    name: 'the user as a string',
    kubeconfig: yaml([`  user: ${SECRET}`]),
    says: (f) => `${f}: users[0].user must be a mapping`,
  },
  {
    name: 'an exec plugin printing malformed JSON',
    kubeconfig: yaml(execUser(`printf '%s' '${execCredential({ token: SECRET }).slice(0, -2)}'`)),
    says: () => 'the exec credential plugin "sh" of kubeconfig user "u" printed output that is not JSON',
  },
  {
    name: 'an exec plugin failing with the token in its error and output',
    kubeconfig: yaml(
      execUser(
        `printf '%s' '${execCredential({ token: SECRET })}'; echo "error: token ${SECRET} was refused" >&2; exit 3`,
      ),
    ),
    says: () => 'the exec credential plugin "sh" of kubeconfig user "u" exited with code 3',
  },
  {
    name: 'an exec plugin answering with the token as its apiVersion',
    kubeconfig: yaml(execUser(`printf '%s' '${execCredential({ token: SECRET }, SECRET)}'`)),
    says: () => `printed an ExecCredential whose apiVersion is not the kubeconfig's ${EXEC_API}`,
  },
  {
    name: 'an exec plugin returning a token with a line break',
    kubeconfig: yaml(execUser(`printf '%s' '${execCredential({ token: `${SECRET}\n${SECRET}` })}'`)),
    says: () =>
      'the token from the exec credential plugin "sh" of kubeconfig user "u" holds characters that cannot be sent in an HTTP header',
  },
  {
    name: 'an exec plugin printing more than 1 MiB',
    kubeconfig: yaml(execUser(`printf '%s' '${SECRET}'; head -c 2097152 /dev/zero`)),
    says: () => 'the output of the exec credential plugin "sh" of kubeconfig user "u" is over the 1 MiB limit',
  },
  {
    name: 'a client-key-data that is not a key',
    kubeconfig: async () => {
      const client = await issueClientCert(cluster.pki, 'alice');
      return kubeconfigYaml([
        '  user:',
        `    client-certificate-data: ${Buffer.from(client.certPem).toString('base64')}`,
        `    client-key-data: ${badKeyData}`,
      ]);
    },
    says: () => 'the client certificate and key of the kubeconfig user "u" cannot be used together',
    alsoSecret: [badKeyData],
  },
  {
    name: 'a client-key-data that is not base64',
    kubeconfig: yaml(['  user:', `    client-key-data: ${SECRET}`]),
    says: () => 'the client-key-data of kubeconfig user "u" is not base64',
  },
  {
    name: 'a token file holding a control character',
    kubeconfig: async (dir) => {
      await writeFile(join(dir, 'bad-token'), `${SECRET}\u0007${SECRET}\n`);
      return kubeconfigYaml(['  user:', '    tokenFile: bad-token']);
    },
    says: () => `the token file ${cluster.dir}/bad-token holds characters that cannot be sent in an HTTP header`,
  },
  {
    name: 'a client key file over 1 MiB',
    kubeconfig: async (dir) => {
      const client = await issueClientCert(cluster.pki, 'bob');
      await writeFile(join(dir, 'huge.key'), `${client.keyPem}\n${SECRET.repeat(50_000)}`);
      return kubeconfigYaml(['  user:', `    client-certificate: ${client.certFile}`, '    client-key: huge.key']);
    },
    says: () => `the client key file ${cluster.dir}/huge.key is over the 1 MiB limit`,
  },
  {
    name: 'a kubeconfig over 4 MiB',
    kubeconfig: yaml(['  user:', `    token: ${SECRET}`, `    # ${'x'.repeat(4 * 1024 * 1024)}`]),
    says: (f) => `the kubeconfig ${f} is over the 4 MiB limit (4.0 MiB)`,
  },
];

/** Replaces `file` at once, so a reload sees the old or the new text, never half of it. */
async function replaceFile(file: string, text: string): Promise<void> {
  await writeFile(`${file}.next`, text);
  await rename(`${file}.next`, file);
}

/** Waits for a log line written after the first `after` lines. */
function waitForNewLog(ambassador: RunningAmbassador, after: number, msg: string): Promise<Record<string, unknown>> {
  return ambassador.waitForLog((line) => line.msg === msg && ambassador.logs.indexOf(line) >= after);
}

function everything(ambassador: RunningAmbassador): string {
  return ambassador.logs.map((line) => JSON.stringify(line)).join('\n') + ambassador.stderr();
}

describe('broken kubeconfigs never put a credential in the output', () => {
  it.each(CASES)('at start: $name', async ({ kubeconfig, says, alsoSecret }) => {
    const file = join(cluster.dir, 'kubeconfig');
    await writeFile(file, await kubeconfig(cluster.dir));
    const { code, stdout, stderr } = await runAmbassador(['--kubeconfig', file, '--log-level', 'trace']);
    expectNoLeak(stdout + stderr, alsoSecret);
    expect(code).toBe(2);
    expect(stderr).toContain(says(file));
  });

  it('on reload: each swapped in, logged without the secret, the last good credentials kept', async () => {
    const file = join(cluster.dir, 'kubeconfig');
    const good = kubeconfigYaml(['  user:', '    token: first-token']);
    await writeFile(file, good);
    const ambassador = await startAmbassador([
      '--kubeconfig',
      file,
      '--credential-refresh-interval',
      '50ms',
      '--log-level',
      'trace',
    ]);
    try {
      for (const { name, kubeconfig, says } of CASES) {
        let seen = ambassador.logs.length;
        await replaceFile(file, await kubeconfig(cluster.dir));
        const warning = await waitForNewLog(ambassador, seen, RELOAD_FAILED);
        expect(String(warning['reason']), name).toContain(says(file));
        expect((await send(ambassador.port, 'GET', '/version')).status, name).toBe(200);
        seen = ambassador.logs.length;
        await replaceFile(file, good);
        await waitForNewLog(ambassador, seen, 'credentials load again');
      }
    } finally {
      await ambassador.stop();
    }
    expect(
      cluster.api.requests
        .filter((r) => r.url === '/version')
        .every((r) => r.headers.authorization === 'Bearer first-token'),
    ).toBe(true);
    expectNoLeak(
      everything(ambassador),
      CASES.flatMap((c) => c.alsoSecret ?? []),
    );
  });
});

describe('broken token files never put the token in the output', () => {
  const TOKEN_FILES: readonly { name: string; text: string; says: string }[] = [
    {
      name: 'a NUL byte',
      text: `${SECRET}\u0000${SECRET}`,
      says: 'holds characters that cannot be sent in an HTTP header',
    },
    {
      name: 'a line break inside',
      text: `${SECRET}\n${SECRET}\n`,
      says: 'holds characters that cannot be sent in an HTTP header',
    },
    { name: 'more than 64 KiB', text: SECRET.repeat(3000), says: 'is over the 64 KiB limit' },
  ];

  it.each(TOKEN_FILES)('at start: $name', async ({ text, says }) => {
    await writeFile(cluster.tokenFile, text);
    const { code, stdout, stderr } = await runAmbassador([...cluster.ambassadorArgs, '--log-level', 'trace']);
    expectNoLeak(stdout + stderr);
    expect(code).toBe(2);
    expect(stderr).toContain(`the token file ${cluster.tokenFile} ${says}`);
  });

  it('on reload, and with a token the API server refuses', async () => {
    const ownToken = join(cluster.dir, 'ambassador-token');
    await writeFile(ownToken, 'first-token\n');
    const ambassador = await startAmbassador([
      ...cluster.ambassadorArgs,
      '--token-file',
      ownToken,
      '--credential-refresh-interval',
      '50ms',
      '--log-level',
      'trace',
    ]);
    try {
      for (const { name, text, says } of TOKEN_FILES) {
        let seen = ambassador.logs.length;
        await replaceFile(ownToken, text);
        const warning = await waitForNewLog(ambassador, seen, RELOAD_FAILED);
        expect(String(warning['reason']), name).toContain(`the token file ${ownToken} ${says}`);
        seen = ambassador.logs.length;
        await replaceFile(ownToken, 'first-token\n');
        await waitForNewLog(ambassador, seen, 'credentials load again');
      }
      const seen = ambassador.logs.length;
      await replaceFile(ownToken, SECRET);
      await waitForNewLog(ambassador, seen, 'credentials rotated');
      expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods?refused=1')).status).toBe(401);
    } finally {
      await ambassador.stop();
    }
    expectNoLeak(everything(ambassador));
  });
});
