/**
 * A test cluster: a fresh PKI and token file in a temp folder, the fake API server with the
 * streaming (exec/attach/port-forward) peer, and the flags that point an ambassador at it.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, type ApiServer, type ApiServerOptions } from './api-server.ts';
import { createPki, type Pki } from './pki.ts';
import { handleStreamingUpgrade } from './streaming.ts';

export interface TestCluster {
  readonly dir: string;
  readonly pki: Pki;
  readonly api: ApiServer;
  readonly tokenFile: string;
  /** Flags that make an ambassador use this cluster. */
  readonly ambassadorArgs: readonly string[];
  /** Writes a new token; the API server accepts only it from then on. */
  rotateToken(token: string): Promise<void>;
  close(): Promise<void>;
}

export interface TestClusterOptions {
  gitVersion?: string;
  /** Also accept client certificates signed by the cluster CA (see issueClientCert). */
  clientCertificates?: boolean;
  /** Serves exec, attach and port-forward upgrades; default: the fake pod of streaming.ts. */
  onUpgrade?: ApiServerOptions['onUpgrade'];
  /** The fake API server's protocols; default: defaultApiProtocol(). */
  protocol?: ApiServerOptions['protocol'];
  /** What its SelfSubjectRulesReviews report by default (see ApiServerOptions.rbacRules). */
  rbacRules?: ApiServerOptions['rbacRules'];
}

export async function startTestCluster(options: TestClusterOptions = {}): Promise<TestCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'ambassador-cluster-'));
  const pki = await createPki(dir);
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, 'first-token\n');
  const api = await startApiServer({
    tls: { certPem: pki.certPem, keyPem: pki.keyPem },
    tokenFile,
    onUpgrade: options.onUpgrade ?? handleStreamingUpgrade,
    ...(options.clientCertificates === true ? { clientCaPem: pki.caPem } : {}),
    ...(options.gitVersion === undefined ? {} : { gitVersion: options.gitVersion }),
    ...(options.protocol === undefined ? {} : { protocol: options.protocol }),
    ...(options.rbacRules === undefined ? {} : { rbacRules: options.rbacRules }),
  });
  return {
    dir,
    pki,
    api,
    tokenFile,
    ambassadorArgs: [
      '--server',
      api.url,
      '--certificate-authority',
      pki.caFile,
      '--token-file',
      tokenFile,
      '--service-account-dir',
      join(dir, 'no-service-account'),
    ],
    // Written aside and renamed, so no reader ever sees a half-written token.
    async rotateToken(token) {
      await writeFile(`${tokenFile}.next`, `${token}\n`);
      await rename(`${tokenFile}.next`, tokenFile);
    },
    async close() {
      await api.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
