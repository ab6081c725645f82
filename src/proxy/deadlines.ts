/**
 * Coarse deadlines for requests in flight: one interval ticking every TICK_MS checks them all,
 * instead of a timer created, refreshed and cleared per request (undici's lib/util/timers.js does
 * the same). A deadline fires no earlier than asked and at most two ticks later; the interval runs
 * only while something is watched, and never keeps the process alive.
 */

/** How often deadlines are checked, in milliseconds; also the clock's resolution. */
export const TICK_MS = 500;

/** Something with a deadline: `expire` is called once it has passed, unless it was unwatched first. */
export interface Expiring {
  /** Epoch ms on the coarse clock; set by `watch`. */
  deadline: number;
  expire(): void;
}

export class Deadlines {
  readonly #watched = new Set<Expiring>();
  #timer: NodeJS.Timeout | undefined;
  /** Epoch ms at the last tick: reading it costs nothing, unlike `Date.now()`. */
  #now = 0;

  /**
   * Fires `entry.expire` once `ms` have passed; watching it again moves its deadline. The clock may
   * be a tick behind, so a tick is added: the deadline is never early.
   */
  watch(entry: Expiring, ms: number): void {
    if (this.#timer === undefined) {
      this.#now = Date.now();
      this.#timer = setInterval(tick, TICK_MS, this);
      this.#timer.unref();
    }
    entry.deadline = this.#now + ms + TICK_MS;
    this.#watched.add(entry);
  }

  unwatch(entry: Expiring): void {
    this.#watched.delete(entry);
  }

  /** Expires what is due; the interval stops on the first tick that finds nothing watched. */
  check(now: number): void {
    this.#now = now;
    if (this.#watched.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    for (const entry of this.#watched) {
      if (entry.deadline > now) continue;
      this.#watched.delete(entry);
      entry.expire();
    }
  }
}

function tick(deadlines: Deadlines): void {
  deadlines.check(Date.now());
}

/** The process's one set of request deadlines. */
export const requestDeadlines = new Deadlines();
