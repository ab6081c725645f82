/**
 * Finds the cluster the way client libraries do, in this order: explicit flags (--kubeconfig or
 * --context, then --server), in-cluster settings (KUBERNETES_SERVICE_HOST/PORT and the service
 * account folder), then a kubeconfig ($KUBECONFIG, ~/.kube/config) with tokens, token files, client
 * certificates and exec credential plugins. Every credential file is read with a size bound, and no
 * error quotes a credential.
 */
import { existsSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { delimiter, join } from 'node:path';
import type { Config } from '../config/options.ts';
import { MAX_NAMESPACE_FILE_BYTES, MAX_PEM_FILE_BYTES, MAX_TOKEN_BYTES, readBounded } from './bounded-read.ts';
import {
  assertCertificates,
  bearerTokenProblem,
  tokenExpiry,
  tokenIdentity,
  type LoadCredentials,
} from './credentials.ts';
import { readKubeconfig } from './kubeconfig.ts';
import { credentialsFromKubeconfig } from './kubeconfig-credentials.ts';

export interface ClusterSource {
  readonly server: URL;
  /** Where the settings came from, for the start-up log line. */
  readonly description: string;
  /** The pod's namespace, from the service account folder, when known. */
  readonly namespace: string | undefined;
  readonly loadCredentials: LoadCredentials;
}

export type Discovery =
  { readonly ok: true; readonly source: ClusterSource } | { readonly ok: false; readonly problem: string };

type Env = Readonly<Record<string, string | undefined>>;

/** The options that say where the cluster is and how to reach it. */
export type ClusterOptions = Pick<
  Config,
  'kubeconfig' | 'context' | 'server' | 'tokenFile' | 'certificateAuthorityFile' | 'serviceAccountDir' | 'tlsServerName'
>;

/** Finds the cluster and how to load its credentials; never rejects. */
export async function discoverCluster(options: ClusterOptions, env: Env, homeDir: string): Promise<Discovery> {
  try {
    if (options.kubeconfig !== '' || options.context !== '') {
      return await fromKubeconfig(
        options,
        options.kubeconfig !== '' ? [options.kubeconfig] : defaultKubeconfigFiles(env, homeDir),
        env,
      );
    }
    if (options.server !== '') {
      return { ok: true, source: await fromFiles(new URL(options.server), options, 'the --server flag') };
    }
    const host = env['KUBERNETES_SERVICE_HOST'];
    const port = env['KUBERNETES_SERVICE_PORT'];
    if (host !== undefined && host !== '' && port !== undefined && port !== '') {
      const server = new URL(`https://${isIPv6(host) ? `[${host}]` : host}:${port}`);
      return { ok: true, source: await fromFiles(server, options, 'in-cluster settings') };
    }
    const files = defaultKubeconfigFiles(env, homeDir);
    if (files.some((file) => existsSync(file))) return await fromKubeconfig(options, files, env);
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
async function fromFiles(server: URL, options: ClusterOptions, origin: string): Promise<ClusterSource> {
  const tokenFile = options.tokenFile !== '' ? options.tokenFile : join(options.serviceAccountDir, 'token');
  const defaultCa = join(options.serviceAccountDir, 'ca.crt');
  const caFile =
    options.certificateAuthorityFile !== ''
      ? options.certificateAuthorityFile
      : existsSync(defaultCa)
        ? defaultCa
        : undefined;
  const servername = options.tlsServerName !== '' ? options.tlsServerName : undefined;
  const namespace = await readNamespace(join(options.serviceAccountDir, 'namespace'));
  return {
    server,
    description: `${origin} (token ${tokenFile}, CA ${caFile ?? 'system roots'})`,
    namespace,
    loadCredentials: async () => {
      const token = await readToken(tokenFile);
      const ca =
        caFile === undefined ? undefined : await readBounded(caFile, MAX_PEM_FILE_BYTES, `the CA file ${caFile}`);
      if (ca !== undefined) assertCertificates(ca, `the CA file ${caFile}`);
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
  const what = `the token file ${file}`;
  const token = (await readBounded(file, MAX_TOKEN_BYTES, what)).toString('utf8').trim();
  const problem = bearerTokenProblem(token, what);
  if (problem !== undefined) throw new Error(problem);
  return token;
}

async function readNamespace(file: string): Promise<string | undefined> {
  try {
    return (
      (await readBounded(file, MAX_NAMESPACE_FILE_BYTES, `the namespace file ${file}`)).toString('utf8').trim() ||
      undefined
    );
  } catch {
    return undefined;
  }
}

async function fromKubeconfig(options: ClusterOptions, files: readonly string[], env: Env): Promise<Discovery> {
  const existing = files.filter((file) => existsSync(file));
  if (existing.length === 0) {
    return { ok: false, problem: `No cluster found: the kubeconfig ${files.join(delimiter)} does not exist.` };
  }
  const selected = await readKubeconfig(existing, options.context);
  const { cluster } = selected;
  if (cluster === undefined) {
    const why = selected.contexts.includes(selected.context)
      ? `its context "${selected.context}" names no cluster it defines`
      : 'has no current context; pass --context';
    return { ok: false, problem: `The kubeconfig ${existing.join(delimiter)} ${why}.` };
  }
  const server = new URL(cluster.server);
  if (server.protocol !== 'https:') {
    return {
      ok: false,
      problem: `The kubeconfig cluster "${cluster.name}" uses ${server.origin}; the ambassador only forwards over https.`,
    };
  }
  if (cluster.insecureSkipTlsVerify) {
    return {
      ok: false,
      problem: `The kubeconfig cluster "${cluster.name}" sets insecure-skip-tls-verify; the ambassador always verifies the API server. Give it the cluster's certificate-authority instead.`,
    };
  }
  const servername = options.tlsServerName !== '' ? options.tlsServerName : undefined;
  return {
    ok: true,
    source: {
      server,
      description: `kubeconfig ${existing.join(delimiter)}, context "${selected.context}"`,
      namespace: undefined,
      // Each load re-reads the files and runs the exec plugin again, so credentials are renewed on
      // the refresh timer, before they expire, not after. The context chosen at start stays: the
      // server does too, and another context's credentials are not for it.
      loadCredentials: async () =>
        credentialsFromKubeconfig(await readKubeconfig(existing, selected.context), servername, env),
    },
  };
}
