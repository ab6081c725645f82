import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CredentialMaterial } from '../../src/cluster/credentials.ts';
import { discoverCluster } from '../../src/cluster/discover.ts';
import type { Config } from '../../src/config/options.ts';
import { parseOptions } from '../../src/config/parse-options.ts';

function options(argv: string[]): Config {
  const parsed = parseOptions(argv, {});
  if (parsed.kind !== 'run') throw new Error(`bad test options: ${JSON.stringify(parsed)}`);
  return parsed.config;
}

const emptyHome = mkdtempSync(join(tmpdir(), 'discover-home-'));

describe('discoverCluster', () => {
  it.each([
    ['10.96.0.1', '443', 'https://10.96.0.1/'],
    ['fd00:10:96::1', '443', 'https://[fd00:10:96::1]/'],
    ['2001:db8::1', '6443', 'https://[2001:db8::1]:6443/'],
    ['kubernetes.default.svc', '443', 'https://kubernetes.default.svc/'],
  ])('builds the in-cluster URL from KUBERNETES_SERVICE_HOST=%s and PORT=%s', async (host, port, url) => {
    const found = await discoverCluster(
      options([]),
      { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port },
      emptyHome,
    );
    expect(found.ok && found.source.server.href).toBe(url);
  });

  it('prefers --server over in-cluster settings, and in-cluster settings over a kubeconfig', async () => {
    const home = mkdtempSync(join(tmpdir(), 'discover-home-'));
    const kubeconfig = join(home, 'config');
    writeFileSync(
      kubeconfig,
      JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [], users: [], contexts: [] }),
    );
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', KUBECONFIG: kubeconfig };
    const explicit = await discoverCluster(options(['--server', 'https://api.example:6443']), env, home);
    expect(explicit.ok && explicit.source.server.href).toBe('https://api.example:6443/');
    const inCluster = await discoverCluster(options([]), env, home);
    expect(inCluster.ok && inCluster.source.description).toContain('in-cluster settings');
  });

  it('refuses a kubeconfig cluster that skips TLS verification or uses plain http', async () => {
    const home = mkdtempSync(join(tmpdir(), 'discover-home-'));
    const write = (name: string, cluster: Record<string, unknown>): string => {
      const file = join(home, name);
      writeFileSync(
        file,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'c', cluster }],
          users: [{ name: 'u', user: { token: 't' } }],
          contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
          'current-context': 'x',
        }),
      );
      return file;
    };
    const insecure = await discoverCluster(
      options(['--kubeconfig', write('insecure', { server: 'https://a.example', 'insecure-skip-tls-verify': true })]),
      {},
      home,
    );
    expect(insecure).toEqual({
      ok: false,
      problem: expect.stringContaining(
        'sets insecure-skip-tls-verify; the ambassador always verifies the API server',
      ) as unknown,
    });
    const plain = await discoverCluster(
      options(['--kubeconfig', write('plain', { server: 'http://a.example' })]),
      {},
      home,
    );
    expect(plain).toEqual({
      ok: false,
      problem: expect.stringContaining('the ambassador only forwards over https') as unknown,
    });
  });

  async function loadUser(user: Record<string, unknown>): Promise<CredentialMaterial> {
    const home = mkdtempSync(join(tmpdir(), 'discover-home-'));
    writeFileSync(join(home, 'token'), 'file-token\n');
    const file = join(home, 'config');
    writeFileSync(
      file,
      JSON.stringify({
        clusters: [{ name: 'c', cluster: { server: 'https://a.example' } }],
        users: [{ name: 'u', user }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    const found = await discoverCluster(options(['--kubeconfig', file]), {}, home);
    if (!found.ok) throw new Error(found.problem);
    return found.source.loadCredentials();
  }

  it.each([
    [{ username: 'admin', password: 'pw' }, `Basic ${Buffer.from('admin:pw').toString('base64')}`],
    [{ tokenFile: 'token' }, 'Bearer file-token'], // relative to the kubeconfig's folder, trimmed
    [{ token: 'inline', tokenFile: 'token' }, 'Bearer inline'],
  ])('loads kubeconfig user %j', async (user, authorization) => {
    expect((await loadUser(user)).authorization).toBe(authorization);
  });

  it('refuses an auth-provider user, pointing to exec plugins', async () => {
    await expect(loadUser({ 'auth-provider': { name: 'oidc', config: { 'id-token': 'x' } } })).rejects.toThrow(
      /^the kubeconfig user "u" uses the auth-provider "oidc", which the ambassador does not support; use an exec credential plugin instead/,
    );
  });
});
