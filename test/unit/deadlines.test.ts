import { afterEach, describe, expect, it } from 'vitest';
import { Deadlines, TICK_MS, type Expiring } from '../../src/proxy/deadlines.ts';

class Entry implements Expiring {
  deadline = 0;
  expired = 0;
  expire(): void {
    this.expired++;
  }
}

describe('Deadlines: one coarse tick for every request in flight', () => {
  const deadlines = new Deadlines();
  afterEach(() => {
    deadlines.check(Number.MAX_SAFE_INTEGER); // expires what is left
    deadlines.check(Number.MAX_SAFE_INTEGER); // and stops the interval
  });

  it('never expires an entry early, and expires it once, within two ticks of its deadline', () => {
    const entry = new Entry();
    const start = Date.now();
    deadlines.watch(entry, 1000);
    deadlines.check(start + 999);
    expect(entry.expired).toBe(0);
    deadlines.check(start + 1000 + 2 * TICK_MS);
    deadlines.check(start + 1000 + 3 * TICK_MS);
    expect(entry.expired).toBe(1);
  });

  it('moves a deadline that is watched again, and forgets an unwatched one', () => {
    const moved = new Entry();
    const dropped = new Entry();
    const start = Date.now();
    deadlines.watch(moved, 1000);
    deadlines.watch(dropped, 1000);
    deadlines.unwatch(dropped);
    deadlines.check(start + 800);
    deadlines.watch(moved, 10_000);
    deadlines.check(start + 1000 + 2 * TICK_MS);
    expect([moved.expired, dropped.expired]).toEqual([0, 0]);
  });
});
