import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/proxy/rate-limit.ts';

describe('TokenBucket', () => {
  it.each<[string, number, number, readonly [number, number][]]>([
    // [what, qps, burst, [request time ms, expected wait s]...]
    [
      'lets a burst through at once, then waits',
      5,
      3,
      [
        [0, 0],
        [0, 0],
        [0, 0],
        [0, 1],
      ],
    ],
    [
      'refills at qps',
      2,
      1,
      [
        [0, 0],
        [100, 1],
        [500, 0],
        [900, 1],
        [1000, 0],
      ],
    ],
    [
      'never holds more than the burst',
      10,
      2,
      [
        [0, 0],
        [60_000, 0],
        [60_000, 0],
        [60_000, 1],
      ],
    ],
    [
      'rounds a long wait up to whole seconds',
      0.25,
      1,
      [
        [0, 0],
        [0, 4],
        [2000, 2],
      ],
    ],
  ])('%s', (_, qps, burst, requests) => {
    const bucket = new TokenBucket(qps, burst, 0);
    expect(requests.map(([at]) => bucket.take(at))).toEqual(requests.map(([, wait]) => wait));
  });
});
