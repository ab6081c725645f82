/**
 * What the proxy is serving right now, so a shutdown can let ordinary requests finish, end watches
 * and log streams cleanly, and close upgraded tunnels.
 */
import type { Duplex } from 'node:stream';
import type { Exchange } from './forward.ts';

export class InFlight {
  readonly #ordinary = new Set<Exchange>();
  readonly #streams = new Set<Exchange>();
  readonly #tunnels = new Set<Duplex>();
  #onIdle: (() => void) | undefined;
  /** Set at shutdown: responses then ask clients to close their connections. */
  draining = false;

  add(exchange: Exchange): void {
    (exchange.longRunning ? this.#streams : this.#ordinary).add(exchange);
  }

  delete(exchange: Exchange): void {
    this.#streams.delete(exchange);
    if (this.#ordinary.delete(exchange) && this.#ordinary.size === 0) this.#onIdle?.();
  }

  addTunnel(socket: Duplex): void {
    this.#tunnels.add(socket);
  }

  deleteTunnel(socket: Duplex): void {
    this.#tunnels.delete(socket);
  }

  get ordinaryCount(): number {
    return this.#ordinary.size;
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
    for (const socket of this.#tunnels) socket.destroy();
  }
}
