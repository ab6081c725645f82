import { describe, expect, it } from 'vitest';
import {
  budgetFor,
  effectiveLimit,
  MemoryGate,
  nextShedding,
  type MemorySample,
} from '../../src/proxy/memory-budget.ts';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const BUDGET = budgetFor(200 * MiB);

function sample(rssMiB: number, heapUsedMiB = 10, heapLimitMiB = 30): MemorySample {
  return { rssBytes: rssMiB * MiB, heapUsedBytes: heapUsedMiB * MiB, heapLimitBytes: heapLimitMiB * MiB };
}

describe('budgetFor', () => {
  it('sheds at 85% of the limit and resumes below 75%', () => {
    expect(BUDGET).toEqual({ limitBytes: 200 * MiB, shedAtBytes: 170 * MiB, resumeAtBytes: 150 * MiB });
  });
});

describe('effectiveLimit', () => {
  it.each<[string, number | undefined, number, number, number]>([
    ['--memory-limit wins over the cgroup', 192 * MiB, 512 * MiB, 16 * GiB, 192 * MiB],
    ['--memory-limit=0 turns the budget off', 0, 512 * MiB, 16 * GiB, 0],
    ['else the cgroup limit', undefined, 512 * MiB, 16 * GiB, 512 * MiB],
    ['no cgroup limit (0): no budget', undefined, 0, 16 * GiB, 0],
    ['an unlimited cgroup reads larger than the machine: no budget', undefined, 2 ** 53, 16 * GiB, 0],
  ])('%s', (_, configured, constrained, total, expected) => {
    expect(effectiveLimit(configured, constrained, total)).toBe(expected);
  });
});

describe('nextShedding', () => {
  it.each<[string, boolean, MemorySample, boolean]>([
    ['well under the budget', false, sample(100), false],
    ['just under the shedding point', false, sample(169), false],
    ['at the shedding point', false, sample(170), true],
    ['shedding, still above the resume point', true, sample(160), true],
    ['shedding, at the resume point', true, sample(150), true],
    ['shedding, below the resume point', true, sample(149), false],
    ['the V8 heap at 90% of its limit, RSS low', false, sample(100, 27, 30), true],
    ['the V8 heap just under 90% of its limit', false, sample(100, 26, 30), false],
    ['shedding, heap full, RSS low', true, sample(100, 29, 30), true],
  ])('%s', (_, shedding, memory, expected) => {
    expect(nextShedding(shedding, memory, BUDGET)).toBe(expected);
  });
});

describe('MemoryGate', () => {
  it('samples at once, then reports only when shedding starts or stops', () => {
    const rss = [100, 180, 175, 160, 140, 145];
    const changes: [boolean, number][] = [];
    const gate = new MemoryGate(
      BUDGET,
      () => sample(rss.shift() ?? 0),
      (shedding, memory) => changes.push([shedding, memory.rssBytes / MiB]),
    );
    try {
      expect(gate.shedding).toBe(false);
      for (let i = 0; i < 5; i++) gate.update();
      expect(changes).toEqual([
        [true, 180],
        [false, 140],
      ]);
      expect(gate.shedding).toBe(false);
    } finally {
      gate.close();
    }
  });
});
