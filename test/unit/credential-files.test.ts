import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatBytes, readBounded } from '../../src/cluster/bounded-read.ts';
import { bearerTokenProblem } from '../../src/cluster/credentials.ts';
import { decodeKubeconfigData } from '../../src/cluster/kubeconfig-credentials.ts';
import { parseExecCredential, runExecPlugin } from '../../src/cluster/exec-plugin.ts';
import { parseKubeconfigText, readKubeconfig } from '../../src/cluster/kubeconfig.ts';

const SECRET = 'Sekr3tToken0123456789';
const dir = mkdtempSync(join(tmpdir(), 'credential-files-'));

function file(name: string, contents: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, contents);
  return path;
}

describe('formatBytes', () => {
  it.each([
    [512, '512 bytes'],
    [64 * 1024, '64 KiB'],
    [100_000, '97.7 KiB'],
    [4 * 1024 * 1024, '4 MiB'],
    [30 * 1024 * 1024 + 1, '30.0 MiB'],
  ])('%d → %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

describe('readBounded', () => {
  it('reads a file up to its limit', async () => {
    expect((await readBounded(file('exact', 'x'.repeat(100)), 100, 'the file')).length).toBe(100);
  });

  it('refuses a file over its limit by its size, naming it, the limit and the size', async () => {
    await expect(readBounded(file('over', 'x'.repeat(101)), 100, 'the token file T')).rejects.toThrow(
      'the token file T is over the 100 bytes limit (101 bytes); not loaded',
    );
  });

  it('refuses a file whose size says nothing once a read passes the limit', async () => {
    // /proc files report size 0; this one is longer than 16 bytes.
    await expect(readBounded('/proc/self/status', 16, 'the status')).rejects.toThrow(
      'the status is over the 16 bytes limit (more than that); not loaded',
    );
  });
});

describe('bearerTokenProblem', () => {
  it.each([
    ['', 'the token file T is empty'],
    [`${SECRET}\n${SECRET}`, 'the token file T holds characters that cannot be sent in an HTTP header'],
    [`${SECRET}\u0000`, 'the token file T holds characters that cannot be sent in an HTTP header'],
    [`${SECRET}€`, 'the token file T holds characters that cannot be sent in an HTTP header'],
    ['x'.repeat(64 * 1024 + 1), 'the token file T is over the 64 KiB limit (64.0 KiB); not loaded'],
  ])('refuses %j', (token, problem) => {
    const found = bearerTokenProblem(token, 'the token file T');
    expect(found).toContain(problem);
    expect(found).not.toContain(SECRET.slice(0, 8));
  });

  it.each([SECRET, 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln', 'x'.repeat(64 * 1024)])('accepts %#', (token) => {
    expect(bearerTokenProblem(token, 'the token file T')).toBeUndefined();
  });
});

describe('parseKubeconfigText', () => {
  it.each([
    [
      `users:\n- name: u\n  user:\n    token: ${SECRET}\n   bad: x\n`,
      'line 5, column 4: bad indentation of a mapping entry',
    ],
    [`token: !${SECRET} x\n`, 'line 1, column 8'],
    [`token: *${SECRET}\n`, 'line 1, column 9'],
    [`token: !<tag:${SECRET}> x\n`, 'line 1, column '],
    [`{"token": "${SECRET}",,}`, 'line 1, column '],
  ])('names line and column, and only a reason that quotes nothing: %j', (text, where) => {
    let message = '';
    try {
      parseKubeconfigText(text, '/k/config');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain(`the kubeconfig /k/config is not valid YAML at ${where}`);
    expect(message).not.toContain(SECRET.slice(0, 8));
    expect(message).not.toContain('\n');
  });
});

describe('parseExecCredential', () => {
  const API = 'client.authentication.k8s.io/v1';
  const ok = (status: Record<string, unknown>, apiVersion = API): string =>
    JSON.stringify({ apiVersion, kind: 'ExecCredential', status });

  it('takes a token, or a certificate and key, and the expiry', () => {
    expect(
      parseExecCredential(ok({ token: SECRET, expirationTimestamp: '2030-01-01T00:00:00Z' }), API, 'the plugin'),
    ).toEqual({
      token: SECRET,
      clientCertificateData: undefined,
      clientKeyData: undefined,
      expirationTimestamp: '2030-01-01T00:00:00Z',
    });
  });

  it.each([
    [`{"status":{"token":"${SECRET}"`, 'the plugin printed output that is not JSON (line 1, column '],
    [`[${JSON.stringify(SECRET)}]`, 'the plugin printed JSON that is not an ExecCredential object'],
    [
      JSON.stringify({ apiVersion: API, kind: SECRET }),
      'the plugin printed an object whose kind is not ExecCredential',
    ],
    [
      ok({ token: SECRET }, SECRET),
      `the plugin printed an ExecCredential whose apiVersion is not the kubeconfig's ${API}`,
    ],
    [
      JSON.stringify({ apiVersion: API, kind: 'ExecCredential' }),
      'the plugin printed an ExecCredential without a status',
    ],
    [ok({ token: [SECRET] }), 'the plugin printed an ExecCredential whose status.token is not a string'],
    [ok({}), 'the plugin returned neither a token nor a client certificate and key'],
    [ok({ clientKeyData: SECRET }), 'the plugin returned a client certificate or key without the other'],
  ])('refuses %j without quoting it', (output, problem) => {
    expect(() => parseExecCredential(output, API, 'the plugin')).toThrow(problem);
    try {
      parseExecCredential(output, API, 'the plugin');
    } catch (error) {
      expect((error as Error).message).not.toContain(SECRET.slice(0, 8));
    }
  });
});

describe('runExecPlugin', () => {
  const exec = (command: string, args: string[]) => ({
    command,
    args,
    env: {},
    apiVersion: 'client.authentication.k8s.io/v1',
  });

  it('says a plugin that cannot be started cannot run, with the error code', async () => {
    await expect(runExecPlugin(exec(join(dir, 'no-such-plugin'), []), {}, 'the plugin')).rejects.toThrow(
      /^cannot run the plugin: ENOENT$/,
    );
  });

  it('gives the plugin its own env and KUBERNETES_EXEC_INFO, as client-go does', async () => {
    const script = `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s-%s"}}' "$PLUGIN_VAR" "$(printf '%s' "$KUBERNETES_EXEC_INFO" | grep -c '"interactive":false')"`;
    const status = await runExecPlugin(
      { ...exec('sh', ['-c', script]), env: { PLUGIN_VAR: 'from-kubeconfig' } },
      { PATH: process.env['PATH'] },
      'the plugin',
    );
    expect(status.token).toBe('from-kubeconfig-1');
  });
});

describe('decodeKubeconfigData', () => {
  it.each([
    [Buffer.from('pem').toString('base64'), 'pem'],
    ['cGVt\n', 'pem'],
  ])('decodes %j', (data, decoded) => {
    expect(decodeKubeconfigData(data, 'the data').toString()).toBe(decoded);
  });

  it.each([`${SECRET}-!`, 'a b c ??'])('refuses %j without quoting it', (data) => {
    expect(() => decodeKubeconfigData(data, 'the client-key-data of kubeconfig user "u"')).toThrow(
      /^the client-key-data of kubeconfig user "u" is not base64$/,
    );
  });
});

describe('readKubeconfig', () => {
  const context = (name: string, cluster: string, user: string) => ({ name, context: { cluster, user } });

  it('merges files as kubectl does: the first definition of a name and the first current-context win', async () => {
    const first = file(
      'first',
      JSON.stringify({
        clusters: [{ name: 'c', cluster: { server: 'https://first' } }],
        contexts: [context('x', 'c', 'u')],
        'current-context': 'x',
      }),
    );
    const second = file(
      'second',
      JSON.stringify({
        clusters: [{ name: 'c', cluster: { server: 'https://second' } }],
        users: [{ name: 'u', user: { token: 't', 'client-key': 'key.pem' } }],
        'current-context': 'y',
      }),
    );
    const selected = await readKubeconfig([first, second], '');
    expect(selected.context).toBe('x');
    expect(selected.cluster?.server).toBe('https://first');
    expect(selected.user?.clientKey).toBe(join(dir, 'key.pem')); // relative to the file that defined it
  });

  it.each([
    [{ users: 'x' }, 'users must be a list'],
    [{ users: [{ user: {} }] }, 'users[0] needs a name'],
    [
      {
        users: [{ name: 'u', user: { token: 1 } }],
        contexts: [context('x', 'c', 'u')],
        clusters: [{ name: 'c', cluster: { server: 'https://a' } }],
      },
      'users[0].user.token must be a string',
    ],
    [
      {
        users: [{ name: 'u', user: { exec: { command: 'sh' } } }],
        contexts: [context('x', 'c', 'u')],
        clusters: [{ name: 'c', cluster: { server: 'https://a' } }],
      },
      'users[0].user.exec.apiVersion is missing',
    ],
    [
      {
        contexts: [context('x', 'c', 'u')],
        clusters: [{ name: 'c', cluster: { server: 'https://a', 'insecure-skip-tls-verify': 'yes' } }],
      },
      'clusters[0].cluster.insecure-skip-tls-verify must be true or false',
    ],
  ])('names the field of a wrong type: %j', async (document, problem) => {
    const path = file('typed', JSON.stringify({ 'current-context': 'x', ...document }));
    await expect(readKubeconfig([path], '')).rejects.toThrow(`the kubeconfig ${path}: ${problem}`);
  });
});
