/**
 * Turns the selected kubeconfig user and cluster into the credentials the ambassador presents:
 * files read with a size bound, an exec plugin run, and everything checked here (a key that does
 * not match, a token no header can carry) so that a bad load fails and the last good one stays.
 */
import { MAX_PEM_FILE_BYTES, MAX_TOKEN_BYTES, readBounded } from './bounded-read.ts';
import {
  assertCertificates,
  assertClientCertificate,
  bearerTokenProblem,
  certificateExpiry,
  certificateIdentity,
  earliest,
  tokenExpiry,
  tokenIdentity,
  type CredentialMaterial,
} from './credentials.ts';
import { runExecPlugin } from './exec-plugin.ts';
import type { KubeconfigCluster, KubeconfigUser, SelectedKubeconfig } from './kubeconfig.ts';

type Env = Readonly<Record<string, string | undefined>>;

const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

/** A kubeconfig `*-data` field's bytes; refuses what is not base64 rather than decoding it loosely. */
export function decodeKubeconfigData(value: string, what: string): Buffer {
  if (!BASE64.test(value)) throw new Error(`${what} is not base64`);
  return Buffer.from(value, 'base64');
}

async function fileOrData(
  file: string | undefined,
  data: string | undefined,
  fileWhat: string,
  dataWhat: string,
): Promise<Buffer | undefined> {
  if (file !== undefined) return readBounded(file, MAX_PEM_FILE_BYTES, `${fileWhat} ${file}`);
  return data === undefined ? undefined : decodeKubeconfigData(data, dataWhat);
}

async function readCluster(cluster: KubeconfigCluster): Promise<Buffer | undefined> {
  const where = `kubeconfig cluster "${cluster.name}"`;
  const ca = await fileOrData(
    cluster.certificateAuthority,
    cluster.certificateAuthorityData,
    'the CA file',
    `the certificate-authority-data of ${where}`,
  );
  if (ca !== undefined) assertCertificates(ca, `the certificate-authority of ${where}`);
  return ca;
}

interface Token {
  readonly value: string;
  /** Where it came from, for errors. */
  readonly source: string;
}

/** The user's own bearer token (token, else tokenFile), trimmed as client-go trims token files. */
async function staticToken(user: KubeconfigUser, where: string): Promise<Token | undefined> {
  if (user.token !== undefined) return { value: user.token, source: `the token of ${where}` };
  if (user.tokenFile === undefined) return undefined;
  const source = `the token file ${user.tokenFile}`;
  return { value: (await readBounded(user.tokenFile, MAX_TOKEN_BYTES, source)).toString('utf8').trim(), source };
}

function timestampOrUndefined(text: string | undefined): number | undefined {
  const epochMs = text === undefined ? NaN : Date.parse(text);
  return Number.isNaN(epochMs) ? undefined : epochMs;
}

/** What a kubeconfig user holds: its files and data, then what its exec plugin adds or replaces. */
async function userCredentials(
  user: KubeconfigUser,
  where: string,
  env: Env,
): Promise<{ cert: Buffer | undefined; key: Buffer | undefined; token: Token | undefined; execExpiry?: number }> {
  const cert = await fileOrData(
    user.clientCertificate,
    user.clientCertificateData,
    'the client certificate file',
    `the client-certificate-data of ${where}`,
  );
  const key = await fileOrData(
    user.clientKey,
    user.clientKeyData,
    'the client key file',
    `the client-key-data of ${where}`,
  );
  const token = await staticToken(user, where);
  if (user.exec === undefined) return { cert, key, token };
  const plugin = `the exec credential plugin "${user.exec.command}" of ${where}`;
  const status = await runExecPlugin(user.exec, env, plugin);
  const pair =
    status.clientCertificateData !== undefined && status.clientKeyData !== undefined
      ? { cert: Buffer.from(status.clientCertificateData), key: Buffer.from(status.clientKeyData) }
      : { cert, key };
  return {
    ...pair,
    token:
      token ?? (status.token === undefined ? undefined : { value: status.token, source: `the token from ${plugin}` }),
    execExpiry: timestampOrUndefined(status.expirationTimestamp),
  };
}

/** The credentials of the selected context; rejects with an error that quotes none of them. */
export async function credentialsFromKubeconfig(
  selected: SelectedKubeconfig,
  servername: string | undefined,
  env: Env,
): Promise<CredentialMaterial> {
  const { cluster, user } = selected;
  if (cluster === undefined)
    throw new Error(`the kubeconfig context "${selected.context}" names no cluster it defines`);
  const ca = await readCluster(cluster);
  const noCredentials = `the kubeconfig user of context "${selected.context}" has no token, client certificate or exec plugin`;
  if (user === undefined) throw new Error(noCredentials);
  const where = `kubeconfig user "${user.name}"`;
  if (user.authProvider !== undefined) {
    throw new Error(
      `the ${where} uses the auth-provider "${user.authProvider}", which the ambassador does not support; use an exec credential plugin ` +
        'instead (client-go replaced the gcp and azure auth-providers with plugins; kubelogin covers OIDC)',
    );
  }
  const { cert, key, token, execExpiry } = await userCredentials(user, where, env);
  const tokenProblem = token === undefined ? undefined : bearerTokenProblem(token.value, token.source);
  if (tokenProblem !== undefined) throw new Error(tokenProblem);
  if ((cert === undefined) !== (key === undefined))
    throw new Error(`the ${where} has a client certificate or key without the other`);
  if (cert !== undefined && key !== undefined) assertClientCertificate(cert, key, `the ${where}`);
  const basic =
    user.username === undefined
      ? undefined
      : `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`;
  const authorization = token !== undefined ? `Bearer ${token.value}` : basic;
  if (authorization === undefined && cert === undefined) throw new Error(noCredentials);
  const tokenValue = token?.value;
  return {
    authorization,
    impersonateUser: user.impersonate,
    tls: { ca, cert, key, servername: servername ?? cluster.tlsServerName },
    expiresAt: earliest(
      earliest(tokenValue === undefined ? undefined : tokenExpiry(tokenValue), certificateExpiry(cert)),
      execExpiry,
    ),
    identity: (tokenValue === undefined ? undefined : tokenIdentity(tokenValue)) ?? certificateIdentity(cert),
  };
}
