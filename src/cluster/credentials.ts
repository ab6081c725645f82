/**
 * The credentials the ambassador presents to the API server, kept fresh off the request path:
 * loaded once at start (a failure is fatal), re-loaded on a timer and at once after a 401, keeping
 * the last good value when a reload fails. Requests only read `current`, a prebuilt value.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { MAX_TOKEN_BYTES, tooLargeMessage } from './bounded-read.ts';

export interface TlsMaterial {
  readonly ca: Buffer | undefined;
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  readonly servername: string | undefined;
}

/** Who the API server will take the ambassador to be, as far as its credentials tell (audit `user`). */
export interface UserInfo {
  readonly username: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
}

export interface CredentialMaterial {
  /** The whole `Authorization` header value (`Bearer …`), or undefined for client-certificate auth. */
  readonly authorization: string | undefined;
  /** A kubeconfig user's `as:`, sent as `Impersonate-User`. */
  readonly impersonateUser: string | undefined;
  readonly tls: TlsMaterial;
  /** When the token or client certificate expires (epoch ms), where that can be read. */
  readonly expiresAt: number | undefined;
  /** Read from the token's claims or the client certificate's subject; never the token itself. */
  readonly identity: UserInfo | undefined;
}

export type LoadCredentials = () => Promise<CredentialMaterial>;

export interface CredentialHealth {
  readonly ready: boolean;
  readonly reason: string;
}

export class CredentialStore {
  #current: CredentialMaterial;
  readonly #load: LoadCredentials;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;
  readonly #tlsListeners: ((tls: TlsMaterial) => void)[] = [];
  readonly #reloadListeners: ((ok: boolean) => void)[] = [];
  #reloading: Promise<void> | undefined;
  #reloadsStarted = 0;
  #failing = false;

  private constructor(initial: CredentialMaterial, load: LoadCredentials, intervalMs: number, log: Logger) {
    this.#current = initial;
    this.#load = load;
    this.#log = log;
    this.#timer = setInterval(() => void this.reload(), intervalMs).unref();
  }

  /** Loads the credentials once; rejects with the loader's error if that fails. */
  static async open(load: LoadCredentials, intervalMs: number, log: Logger): Promise<CredentialStore> {
    return new CredentialStore(await load(), load, intervalMs, log);
  }

  get current(): CredentialMaterial {
    return this.#current;
  }

  /** Called with the new TLS material whenever the CA or client certificate changes. */
  onTlsChange(listener: (tls: TlsMaterial) => void): void {
    this.#tlsListeners.push(listener);
  }

  /** Called after every reload, with whether it succeeded. */
  onReload(listener: (ok: boolean) => void): void {
    this.#reloadListeners.push(listener);
  }

  /** Reloads now (joining a reload already under way). Never rejects. */
  reload(): Promise<void> {
    if (this.#reloading === undefined) {
      this.#reloadsStarted++;
      this.#reloading = this.#reloadOnce().finally(() => {
        this.#reloading = undefined;
      });
    }
    return this.#reloading;
  }

  /** Identifies the credentials' read state; taken when a request is sent, given back after a 401. */
  get reloadMark(): number {
    return this.#reloadsStarted;
  }

  /**
   * After the API server answered 401 to a request sent with `sentAuthorization` at `sentMark`:
   * makes sure the credentials were re-read since it was sent (one read serves a burst of 401s),
   * and tells whether they changed, so that a retry could succeed.
   */
  async refreshAfterUnauthorized(sentAuthorization: string | undefined, sentMark: number): Promise<boolean> {
    if (this.#reloadsStarted === sentMark) {
      await this.#reloading; // began before the request was sent: it may predate a rotation
      if (this.#reloadsStarted === sentMark) await this.reload();
    }
    await this.#reloading;
    return this.#current.authorization !== sentAuthorization;
  }

  health(now: number): CredentialHealth {
    const { expiresAt, authorization, tls } = this.#current;
    if (authorization === undefined && tls.cert === undefined) {
      return { ready: false, reason: 'no credentials loaded' };
    }
    if (expiresAt !== undefined && expiresAt <= now) {
      return { ready: false, reason: `credentials expired at ${new Date(expiresAt).toISOString()}` };
    }
    return { ready: true, reason: 'credentials loaded' };
  }

  close(): void {
    clearInterval(this.#timer);
  }

  async #reloadOnce(): Promise<void> {
    try {
      const next = await this.#load();
      const previous = this.#current;
      this.#current = next;
      if (this.#failing) this.#log.info('credentials load again');
      this.#failing = false;
      if (next.authorization !== previous.authorization) {
        this.#log.info({ expiresAt: isoOrUndefined(next.expiresAt) }, 'credentials rotated');
      }
      if (!sameTls(previous.tls, next.tls)) {
        this.#log.info('API server CA or client certificate changed; new connections use it');
        for (const listener of this.#tlsListeners) listener(next.tls);
      }
      for (const listener of this.#reloadListeners) listener(true);
    } catch (error) {
      if (!this.#failing) {
        this.#log.warn({ reason: (error as Error).message }, 'cannot reload credentials; keeping the last good ones');
      }
      this.#failing = true;
      for (const listener of this.#reloadListeners) listener(false);
    }
  }
}

function isoOrUndefined(epochMs: number | undefined): string | undefined {
  return epochMs === undefined ? undefined : new Date(epochMs).toISOString();
}

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.equals(b));
}

function sameTls(a: TlsMaterial, b: TlsMaterial): boolean {
  return sameBytes(a.ca, b.ca) && sameBytes(a.cert, b.cert) && sameBytes(a.key, b.key) && a.servername === b.servername;
}

/** Throws a readable error unless `pem` holds at least one parsable certificate. */
export function assertCertificates(pem: Buffer, what: string): void {
  try {
    new X509Certificate(pem);
  } catch {
    throw new Error(`${what} does not contain a PEM certificate`);
  }
}

/**
 * Throws unless `cert` and `key` make a usable client certificate. Checked when loading, so a bad
 * key fails that load (keeping the last good credentials) rather than every new connection.
 * OpenSSL's code is kept, its message too (it names the routine, never the data).
 */
export function assertClientCertificate(cert: Buffer, key: Buffer, what: string): void {
  assertCertificates(cert, `the client certificate of ${what}`);
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    // eslint-disable-next-line preserve-caught-error -- the cause may quote the secret.
    throw new Error(
      `the client certificate and key of ${what} cannot be used together (${(error as NodeJS.ErrnoException).code ?? 'invalid key'})`,
    );
  }
}

/** Node refuses header values with other bytes (RFC 9110 §5.5 field-value; validateHeaderValue). */
const HEADER_VALUE_BYTE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Why `token` (from `what`) cannot be sent as a bearer token, or undefined if it can; never quotes it. */
export function bearerTokenProblem(token: string, what: string): string | undefined {
  if (token === '') return `${what} is empty`;
  const bytes = Buffer.byteLength(token);
  if (bytes > MAX_TOKEN_BYTES) return tooLargeMessage(what, bytes, MAX_TOKEN_BYTES);
  if (!HEADER_VALUE_BYTE.test(token))
    return `${what} holds characters that cannot be sent in an HTTP header (control characters or text beyond Latin-1)`;
  return undefined;
}

interface TokenClaims {
  readonly exp?: unknown;
  readonly sub?: unknown;
  readonly 'kubernetes.io'?: { readonly serviceaccount?: { readonly uid?: unknown } };
}

/** The claims of a JWT bearer token; undefined for opaque tokens. Never verifies anything. */
function tokenClaims(token: string): TokenClaims | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return typeof claims === 'object' && claims !== null ? claims : undefined;
  } catch {
    return undefined;
  }
}

/** The `exp` claim of a JWT bearer token in epoch ms; undefined for opaque tokens. */
export function tokenExpiry(token: string): number | undefined {
  const exp = tokenClaims(token)?.exp;
  return typeof exp === 'number' ? exp * 1000 : undefined;
}

const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([^:]+):[^:]+$/;

/**
 * The user a bearer token authenticates as: its `sub`, with the groups kube-apiserver gives a
 * service account; undefined for opaque tokens.
 */
export function tokenIdentity(token: string): UserInfo | undefined {
  const claims = tokenClaims(token);
  if (typeof claims?.sub !== 'string') return undefined;
  const uid = claims['kubernetes.io']?.serviceaccount?.uid;
  const namespace = SERVICE_ACCOUNT_USER.exec(claims.sub)?.[1];
  return {
    username: claims.sub,
    ...(typeof uid === 'string' ? { uid } : {}),
    ...(namespace === undefined
      ? {}
      : { groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'] }),
  };
}

/** The user a client certificate authenticates as: CN the name, O the groups. */
export function certificateIdentity(cert: Buffer | undefined): UserInfo | undefined {
  if (cert === undefined) return undefined;
  try {
    const subject = new X509Certificate(cert).subject.split('\n');
    const username = subject.find((part) => part.startsWith('CN='))?.slice(3);
    const groups = subject.filter((part) => part.startsWith('O=')).map((part) => part.slice(2));
    return username === undefined ? undefined : { username, ...(groups.length > 0 ? { groups } : {}) };
  } catch {
    return undefined;
  }
}

export function certificateExpiry(cert: Buffer | undefined): number | undefined {
  if (cert === undefined) return undefined;
  try {
    return new X509Certificate(cert).validToDate.getTime();
  } catch {
    return undefined;
  }
}

export function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
