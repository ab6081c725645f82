/**
 * An optional client-side rate limit, as client-go's QPS/burst protects the API server from a
 * runaway program: a token bucket refilled at `qps` up to `burst`. Past it the request is answered
 * at once with 429 and the wait until the next token, rather than queued in the sidecar.
 */
export class TokenBucket {
  readonly qps: number;
  readonly burst: number;
  #tokens: number;
  #updatedAt: number;

  constructor(qps: number, burst: number, now: number) {
    this.qps = qps;
    this.burst = burst;
    this.#tokens = burst;
    this.#updatedAt = now;
  }

  /** Takes a token; returns 0 when one was free, else the whole seconds until one will be. */
  take(now: number): number {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#updatedAt) / 1000) * this.qps);
    this.#updatedAt = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.#tokens) / this.qps);
  }
}
