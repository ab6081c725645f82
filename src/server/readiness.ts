/**
 * What /readyz reports: credentials loaded and unexpired, and the API server reached recently.
 * "Recently" is any answer to a proxied request within the window; past it, the probe asks the
 * API server's /version itself (one check at a time, whatever the probe rate).
 */
import type { CredentialStore } from '../cluster/credentials.ts';
import type { Upstream } from '../cluster/upstream.ts';

export const CONTACT_WINDOW_MS = 30_000;
const CHECK_TIMEOUT_MS = 5_000;

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: readonly { readonly name: string; readonly ok: boolean; readonly detail: string }[];
}

export class Readiness {
  readonly #credentials: CredentialStore;
  readonly #upstream: Upstream;
  #checking: Promise<string | undefined> | undefined;

  constructor(credentials: CredentialStore, upstream: Upstream) {
    this.#credentials = credentials;
    this.#upstream = upstream;
  }

  async report(): Promise<ReadinessReport> {
    const now = Date.now();
    const credentials = this.#credentials.health(now);
    const upstreamProblem =
      now - this.#upstream.lastContactAt < CONTACT_WINDOW_MS ? undefined : await this.#checkUpstream();
    const checks = [
      { name: 'credentials', ok: credentials.ready, detail: credentials.reason },
      {
        name: 'api-server',
        ok: upstreamProblem === undefined,
        detail: upstreamProblem ?? `reached within the last ${CONTACT_WINDOW_MS / 1000}s`,
      },
    ];
    return { ready: checks.every((check) => check.ok), checks };
  }

  #checkUpstream(): Promise<string | undefined> {
    this.#checking ??= this.#askVersion().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  /** Resolves undefined when the API server answered acceptably, else why not. */
  #askVersion(): Promise<string | undefined> {
    return new Promise((resolve) => {
      const request = this.#upstream.request('GET', '/version', ['accept', 'application/json']);
      request.setTimeout(CHECK_TIMEOUT_MS, () =>
        request.destroy(new Error(`no answer within ${CHECK_TIMEOUT_MS / 1000}s`)),
      );
      request.on('response', (response) => {
        response.resume();
        this.#upstream.lastContactAt = Date.now();
        resolve(response.statusCode === 401 ? 'the API server rejects the credentials (401)' : undefined);
      });
      request.on('error', (error: NodeJS.ErrnoException) =>
        resolve(`cannot reach the API server: ${error.code ?? error.message}`),
      );
      request.end();
    });
  }
}
