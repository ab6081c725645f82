/**
 * Runs a kubeconfig's exec credential plugin as client-go does (plugin/pkg/client/auth/exec/exec.go):
 * KUBERNETES_EXEC_INFO set, the output an ExecCredential of the configured apiVersion. Unlike
 * client-go, its stdout is bounded and its stderr dropped, and no error quotes either: both may
 * hold the credentials.
 */
import { spawn } from 'node:child_process';
import { MAX_EXEC_OUTPUT_BYTES, tooLargeMessage } from './bounded-read.ts';
import type { ExecPluginConfig } from './kubeconfig.ts';

export interface ExecCredentialStatus {
  readonly token: string | undefined;
  /** PEM text, as ExecCredential carries it (not base64 like a kubeconfig's *-data). */
  readonly clientCertificateData: string | undefined;
  readonly clientKeyData: string | undefined;
  readonly expirationTimestamp: string | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

/** V8's JSON.parse messages quote the input; only the position they give is kept. */
const JSON_POSITION = /\(line (\d+) column (\d+)\)/;

function statusString(status: Readonly<Record<string, unknown>>, key: string, what: string): string | undefined {
  const value = status[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string')
    throw new Error(`${what} printed an ExecCredential whose status.${key} is not a string`);
  return value;
}

/** Checks the plugin's output as client-go does; errors name fields, never their values. */
export function parseExecCredential(output: string, apiVersion: string, what: string): ExecCredentialStatus {
  let credential: unknown;
  try {
    credential = JSON.parse(output);
  } catch (error) {
    const position = JSON_POSITION.exec((error as Error).message);
    // eslint-disable-next-line preserve-caught-error -- the cause may quote the secret.
    throw new Error(
      `${what} printed output that is not JSON${position === null ? '' : ` (line ${position[1]}, column ${position[2]})`}`,
    );
  }
  if (typeof credential !== 'object' || credential === null || Array.isArray(credential))
    throw new Error(`${what} printed JSON that is not an ExecCredential object`);
  const fields = credential as Readonly<Record<string, unknown>>;
  if (fields['kind'] !== 'ExecCredential')
    throw new Error(`${what} printed an object whose kind is not ExecCredential`);
  if (fields['apiVersion'] !== apiVersion)
    throw new Error(`${what} printed an ExecCredential whose apiVersion is not the kubeconfig's ${apiVersion}`);
  const status = fields['status'];
  if (typeof status !== 'object' || status === null || Array.isArray(status))
    throw new Error(`${what} printed an ExecCredential without a status`);
  const statusFields = status as Readonly<Record<string, unknown>>;
  const parsed: ExecCredentialStatus = {
    token: statusString(statusFields, 'token', what),
    clientCertificateData: statusString(statusFields, 'clientCertificateData', what),
    clientKeyData: statusString(statusFields, 'clientKeyData', what),
    expirationTimestamp: statusString(statusFields, 'expirationTimestamp', what),
  };
  if (parsed.token === undefined && parsed.clientCertificateData === undefined && parsed.clientKeyData === undefined)
    throw new Error(`${what} returned neither a token nor a client certificate and key`);
  if ((parsed.clientCertificateData === undefined) !== (parsed.clientKeyData === undefined))
    throw new Error(`${what} returned a client certificate or key without the other`);
  return parsed;
}

/** Runs the plugin once with `env` (the ambassador's) plus its own variables, and parses its output. */
export function runExecPlugin(exec: ExecPluginConfig, env: Env, what: string): Promise<ExecCredentialStatus> {
  const info = JSON.stringify({ apiVersion: exec.apiVersion, kind: 'ExecCredential', spec: { interactive: false } });
  const child = spawn(exec.command, exec.args, {
    env: { ...env, ...exec.env, KUBERNETES_EXEC_INFO: info },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let failure: Error | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > MAX_EXEC_OUTPUT_BYTES) {
        failure ??= new Error(tooLargeMessage(`the output of ${what}`, undefined, MAX_EXEC_OUTPUT_BYTES));
        child.kill('SIGKILL');
        return;
      }
      chunks.push(chunk);
    });
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(new Error(`cannot run ${what}: ${error.code ?? 'spawn failed'}`));
    });
    child.once('close', (code, signal) => {
      if (failure !== undefined) reject(failure);
      else if (code !== 0)
        reject(
          new Error(
            `${what} ${code === null ? `was killed by ${signal ?? 'a signal'}` : `exited with code ${code}`} (its stderr is dropped: it may hold credentials)`,
          ),
        );
      else {
        try {
          resolve(parseExecCredential(Buffer.concat(chunks, total).toString('utf8'), exec.apiVersion, what));
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      }
    });
  });
}
