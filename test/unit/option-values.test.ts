import { describe, expect, it } from 'vitest';
import { failure, success } from '../../src/config/result.ts';
import { parseDurationMs, parseMemoryBytes } from '../../src/config/values.ts';

describe('parseDurationMs (Go time.ParseDuration syntax, in milliseconds)', () => {
  const INVALID = failure('must be a duration such as 500ms, 30s, 1m or 1h30m');
  it.each<[string, ReturnType<typeof parseDurationMs>]>([
    ['0', success(0)],
    ['0s', success(0)],
    ['500ms', success(500)],
    ['30s', success(30_000)],
    ['1m', success(60_000)],
    ['1m30s', success(90_000)],
    ['1h30m', success(5_400_000)],
    ['2h', success(7_200_000)],
    ['1h2m3s4ms', success(3_723_004)],
    ['1.5s', success(1_500)],
    ['0.5m', success(30_000)],
    ['1s500ms', success(1_500)],
    ['1500ms', success(1_500)],
    ['100ns', success(0)],
    ['1500us', success(2)],
    ['1500µs', success(2)],
    ['.5s', success(500)],
    ['1.s', success(1_000)],
    ['+1s', success(1_000)],
    ['-1s', INVALID],
    ['5q', INVALID],
    ['', INVALID],
    ['1x', INVALID],
    ['1', INVALID],
    ['00', INVALID],
    ['s', INVALID],
    ['ms', INVALID],
    ['1m30', INVALID],
    ['1.5.5s', INVALID],
    [' 1s', INVALID],
    ['1s ', INVALID],
    ['1 s', INVALID],
    ['1S', INVALID],
    ['1d', INVALID],
  ])('%j', (text, expected) => {
    expect(parseDurationMs(text)).toEqual(expected);
  });
});

describe("parseMemoryBytes (the Downward API's bytes, or a Kubernetes quantity)", () => {
  it.each<[string, number | undefined]>([
    ['', undefined],
    ['0', 0],
    ['201326592', 201_326_592],
    ['192Mi', 192 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['512Ki', 512 * 1024],
    ['200M', 200_000_000],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['2k', 2000],
  ])('%j is %j bytes', (text, bytes) => {
    expect(parseMemoryBytes(text)).toEqual(success(bytes));
  });

  it.each(['192MiB', '-1', 'Mi', '1e9', '192 Mi', '0x10', '1m'])('%j is refused', (text) => {
    expect(parseMemoryBytes(text)).toMatchObject({ ok: false });
  });
});
