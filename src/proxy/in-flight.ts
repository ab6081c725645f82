/**
 * What the proxy is serving right now, so a shutdown can let ordinary requests finish, end watches
 * and log streams cleanly, and close upgraded tunnels.
 */
import type { Duplex } from 'node:stream';

/** What the proxy needs of a request it tracks: whether it is long-running, and how to end it. */
export interface TrackedRequest {
  readonly longRunningKind: string | undefined;
  /** Ends a long-running response cleanly. */
  endStream(): void;
}

export class InFlight {
  readonly #ordinary = new Set<TrackedRequest>();
  readonly #streams = new Set<TrackedRequest>();
  /** Upgrades, from their arrival to the end of the session, with their kind (exec, attach, portforward). */
  readonly #tunnels = new Map<Duplex, string>();
  #onIdle: (() => void) | undefined;
  /** Set at shutdown: responses then ask clients to close their connections. */
  draining = false;

  add(exchange: TrackedRequest): void {
    (exchange.longRunningKind === undefined ? this.#ordinary : this.#streams).add(exchange);
  }

  delete(exchange: TrackedRequest): void {
    this.#streams.delete(exchange);
    if (this.#ordinary.delete(exchange) && this.#ordinary.size === 0) this.#onIdle?.();
  }

  addTunnel(socket: Duplex, kind: string): void {
    this.#tunnels.set(socket, kind);
  }

  deleteTunnel(socket: Duplex): void {
    this.#tunnels.delete(socket);
  }

  get ordinaryCount(): number {
    return this.#ordinary.size;
  }

  /** Watches, logs and upgraded sessions open now. */
  get longRunningCount(): number {
    return this.#streams.size + this.#tunnels.size;
  }

  /** Every request being served, upgraded sessions included. */
  get count(): number {
    return this.#ordinary.size + this.#streams.size + this.#tunnels.size;
  }

  /** Open long-running requests and sessions by kind; computed when asked (at a scrape). */
  longRunningByKind(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const exchange of this.#streams) {
      const kind = exchange.longRunningKind ?? '';
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
    }
    for (const kind of this.#tunnels.values()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
    return counts;
  }

  /** Resolves when no ordinary request is in flight. */
  whenOrdinaryDone(): Promise<void> {
    if (this.#ordinary.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#onIdle = resolve;
    });
  }

  /** Ends every watch, log follow and upgraded session. */
  endLongRunning(): void {
    for (const exchange of this.#streams) exchange.endStream();
    for (const socket of this.#tunnels.keys()) socket.destroy();
  }
}
