/** The pure checks behind the `commands` and `ports` conditions (policy/conditions.ts). */
import { describe, expect, it } from 'vitest';
import { areAllowedPorts, isAllowedCommand } from '../../src/policy/conditions.ts';

describe("isAllowedCommand: exec's command= values are exactly one allowed argument vector", () => {
  const allowed = [['ls', '/tmp'], ['date']];
  it.each<[string, boolean]>([
    ['command=ls&command=%2Ftmp', true],
    ['command=date', true],
    ['command=ls', false],
    ['command=ls&command=%2Ftmp&command=-la', false],
    ['command=%2Ftmp&command=ls', false],
    ['', false],
    ['stdout=1&command=date&tty=0', true],
  ])('%j → %s', (query, expected) => {
    expect(isAllowedCommand(allowed, query)).toBe(expected);
  });
});

describe("areAllowedPorts: port-forward's ports= are named, and all allowed", () => {
  const allowed = [8080, 9090];
  it.each<[string, boolean]>([
    ['ports=8080', true],
    ['ports=8080&ports=9090', true],
    ['ports=%2B8080', true],
    ['ports=8080&ports=22', false],
    ['', false],
    ['ports=8080.0', false],
    ['ports=0x1f90', false],
  ])('%j → %s', (query, expected) => {
    expect(areAllowedPorts(allowed, query)).toBe(expected);
  });
});
