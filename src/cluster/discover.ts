/**
 * Finds the cluster the way client libraries do, in this order: explicit flags (--kubeconfig or
 * --context, then --server), in-cluster settings (KUBERNETES_SERVICE_HOST/PORT and the service
 * account folder), then a kubeconfig ($KUBECONFIG, ~/.kube/config) read with @kubernetes/client-node
 * so client certificates, tokens and exec credential plugins work outside a cluster too.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { RequestOptions } from 'node:https';
import { isIPv6 } from 'node:net';
import { delimiter, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Options } from '../config/options.ts';
import {
  assertCertificates,
  certificateExpiry,
  certificateIdentity,
  earliest,
  tokenExpiry,
  tokenIdentity,
  type CredentialMaterial,
  type LoadCredentials,
} from './credentials.ts';

export interface ClusterSource {
  readonly server: URL;
  /** Where the settings came from, for the start-up log line. */
  readonly description: string;
  /** The pod's namespace, from the service account folder, when known. */
  readonly namespace: string | undefined;
  readonly loadCredentials: LoadCredentials;
}

export type Discovery = { readonly ok: true; readonly source: ClusterSource } | { readonly ok: false; readonly problem: string };

type Env = Readonly<Record<string, string | undefined>>;

/** Finds the cluster; only a kubeconfig makes it load @kubernetes/client-node (85 MB of heap at start). */
export async function discoverCluster(options: Options, env: Env, homeDir: string): Promise<Discovery> {
  try {
    if (options.kubeconfig !== '' || options.context !== '') {
      return await fromKubeconfig(options, options.kubeconfig !== '' ? [options.kubeconfig] : defaultKubeconfigFiles(env, homeDir));
    }
    if (options.server !== '') {
      return { ok: true, source: fromFiles(new URL(options.server), options, 'the --server flag') };
    }
    const host = env['KUBERNETES_SERVICE_HOST'];
    const port = env['KUBERNETES_SERVICE_PORT'];
    if (host !== undefined && host !== '' && port !== undefined && port !== '') {
      const server = new URL(`https://${isIPv6(host) ? `[${host}]` : host}:${port}`);
      return { ok: true, source: fromFiles(server, options, 'in-cluster settings') };
    }
    const files = defaultKubeconfigFiles(env, homeDir);
    if (files.some((file) => existsSync(file))) return await fromKubeconfig(options, files);
    return {
      ok: false,
      problem:
        'No cluster found: looked for the --server and --kubeconfig flags, in-cluster settings ' +
        '(KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set), and a kubeconfig at ' +
        `${env['KUBECONFIG'] ? `$KUBECONFIG (${env['KUBECONFIG']})` : join(homeDir, '.kube', 'config')}.`,
    };
  } catch (error) {
    return { ok: false, problem: (error as Error).message };
  }
}

function defaultKubeconfigFiles(env: Env, homeDir: string): string[] {
  const list = env['KUBECONFIG'];
  if (list !== undefined && list !== '') return list.split(delimiter).filter((file) => file !== '');
  return [join(homeDir, '.kube', 'config')];
}

/** Token and CA files: --token-file and --certificate-authority, else the service account folder's. */
function fromFiles(server: URL, options: Options, origin: string): ClusterSource {
  const tokenFile = options['token-file'] !== '' ? options['token-file'] : join(options['service-account-dir'], 'token');
  const defaultCa = join(options['service-account-dir'], 'ca.crt');
  const caFile = options['certificate-authority'] !== '' ? options['certificate-authority'] : existsSync(defaultCa) ? defaultCa : undefined;
  const servername = options['tls-server-name'] !== '' ? options['tls-server-name'] : undefined;
  const namespace = readOptional(join(options['service-account-dir'], 'namespace'));
  return {
    server,
    description: `${origin} (token ${tokenFile}, CA ${caFile ?? 'system roots'})`,
    namespace,
    loadCredentials: async () => {
      const token = await readToken(tokenFile);
      const ca = caFile === undefined ? undefined : await readCa(caFile);
      return {
        authorization: `Bearer ${token}`,
        impersonateUser: undefined,
        tls: { ca, cert: undefined, key: undefined, servername },
        expiresAt: tokenExpiry(token),
        identity: tokenIdentity(token),
      };
    },
  };
}

async function readToken(file: string): Promise<string> {
  const token = (await readFile(file, 'utf8')).trim();
  if (token === '') throw new Error(`the token file ${file} is empty`);
  return token;
}

async function readCa(file: string): Promise<Buffer> {
  const ca = await readFile(file);
  assertCertificates(ca, `the CA file ${file}`);
  return ca;
}

function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

async function fromKubeconfig(options: Options, files: readonly string[]): Promise<Discovery> {
  const existing = files.filter((file) => existsSync(file));
  if (existing.length === 0) {
    return { ok: false, problem: `No cluster found: the kubeconfig ${files.join(delimiter)} does not exist.` };
  }
  const { KubeConfig } = await import('@kubernetes/client-node');
  const loadKubeconfig = (): KubeConfig => readKubeconfig(new KubeConfig(), () => new KubeConfig(), existing, options.context);
  const config = loadKubeconfig();
  const cluster = config.getCurrentCluster();
  if (cluster === null) {
    return { ok: false, problem: `The kubeconfig ${existing.join(delimiter)} has no current context; pass --context.` };
  }
  const server = new URL(cluster.server);
  if (server.protocol !== 'https:') {
    return { ok: false, problem: `The kubeconfig cluster "${cluster.name}" uses ${cluster.server}; the ambassador only forwards over https.` };
  }
  if (cluster.skipTLSVerify) {
    return {
      ok: false,
      problem: `The kubeconfig cluster "${cluster.name}" sets insecure-skip-tls-verify; the ambassador always verifies the API server. Give it the cluster's certificate-authority instead.`,
    };
  }
  const servername = options['tls-server-name'] !== '' ? options['tls-server-name'] : undefined;
  return {
    ok: true,
    source: {
      server,
      description: `kubeconfig ${existing.join(delimiter)}, context "${config.getCurrentContext()}"`,
      namespace: undefined,
      // A fresh KubeConfig per load re-reads the files and makes exec plugins run again, so
      // credentials are renewed on the refresh timer, before they expire, not after.
      loadCredentials: () => credentialsFromKubeconfig(loadKubeconfig(), servername),
    },
  };
}

/** Loads `files` into `config`, merged as kubectl merges $KUBECONFIG, and selects `context`. */
function readKubeconfig(config: KubeConfig, create: () => KubeConfig, files: readonly string[], context: string): KubeConfig {
  files.forEach((file, index) => {
    if (index === 0) {
      config.loadFromFile(file);
      return;
    }
    const next = create();
    next.loadFromFile(file);
    config.mergeConfig(next, config.getCurrentContext() !== '');
  });
  if (context !== '') {
    if (config.getContextObject(context) === null) {
      const known = config.getContexts().map((c) => c.name);
      throw new Error(`The kubeconfig has no context "${context}"; it has: ${known.join(', ') || 'none'}.`);
    }
    config.setCurrentContext(context);
  }
  return config;
}

async function credentialsFromKubeconfig(config: KubeConfig, servername: string | undefined): Promise<CredentialMaterial> {
  const request: RequestOptions = {};
  await config.applyToHTTPSOptions(request);
  const headers = (request.headers ?? {}) as Record<string, string | undefined>;
  const bearer = headers['Authorization'];
  const authorization = bearer ?? (request.auth ? `Basic ${Buffer.from(request.auth).toString('base64')}` : undefined);
  const cert = asBuffer(request.cert);
  const ca = asBuffer(request.ca);
  if (ca !== undefined) assertCertificates(ca, 'the kubeconfig certificate-authority');
  if (authorization === undefined && cert === undefined) {
    throw new Error(`the kubeconfig user of context "${config.getCurrentContext()}" has no token, client certificate or exec plugin`);
  }
  const token = bearer?.startsWith('Bearer ') ? bearer.slice('Bearer '.length) : undefined;
  return {
    authorization,
    impersonateUser: headers['Impersonate-User'],
    tls: { ca, cert, key: asBuffer(request.key), servername: servername ?? request.servername },
    expiresAt: earliest(token === undefined ? undefined : tokenExpiry(token), certificateExpiry(cert)),
    identity: (token === undefined ? undefined : tokenIdentity(token)) ?? certificateIdentity(cert),
  };
}

function asBuffer(value: unknown): Buffer | undefined {
  if (value === undefined || value === null) return undefined;
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value);
  return undefined;
}
