/**
 * The parsers of option values: text in, a typed value or the rule it broke out. Each problem
 * completes "--flag: …, got "text"", so it says what the value must be, not what is wrong with it.
 */
import { isIP } from 'node:net';
import { failure, success, type Result } from './result.ts';

export type ValueParser<T> = (text: string) => Result<T>;

export function parseText(text: string): Result<string> {
  return success(text);
}

export function parseIp(text: string): Result<string> {
  return isIP(text) === 0 ? failure('must be an IPv4 or IPv6 address') : success(text);
}

export function parsePort(text: string): Result<number> {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  return port >= 0 && port <= 65_535 ? success(port) : failure('must be a port number from 0 to 65535');
}

export function parseCount(text: string): Result<number> {
  return /^\d{1,9}$/.test(text) ? success(Number(text)) : failure('must be a whole number (0 for no limit)');
}

export function parsePositiveCount(text: string): Result<number> {
  return /^[1-9]\d{0,8}$/.test(text) ? success(Number(text)) : failure('must be a whole number of at least 1');
}

export function parseRate(text: string): Result<number> {
  const rate = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  return Number.isFinite(rate)
    ? success(rate)
    : failure('must be a number of requests per second, such as 5 or 0.5 (0 for no limit)');
}

export function parseBoolean(text: string): Result<boolean> {
  if (text === 'true' || text === '1') return success(true);
  if (text === 'false' || text === '0') return success(false);
  return failure('must be true or false');
}

export function parseApiPrefix(text: string): Result<string> {
  if (!text.startsWith('/')) return failure('must start with "/"');
  return success(text.endsWith('/') ? text : text + '/');
}

export function parseServer(text: string): Result<string> {
  if (text === '') return success('');
  const url = URL.parse(text);
  if (url === null) return failure('must be a URL such as https://10.96.0.1:443');
  if (url.protocol !== 'https:')
    return failure('must be an https:// URL: the ambassador only speaks TLS to the API server');
  return success(text);
}

export function parseTracingEndpoint(text: string): Result<string> {
  if (text === '') return success('');
  const url = URL.parse(text);
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    return failure(
      'must be an http:// or https:// URL such as http://127.0.0.1:4318/v1/traces (or empty for no tracing)',
    );
  }
  return success(text);
}

/** The denominator of --tracing-sampling-rate-per-million. */
export const PER_MILLION = 1_000_000;

export function parsePerMillion(text: string): Result<number> {
  const rate = /^\d{1,7}$/.test(text) ? Number(text) : NaN;
  return rate <= PER_MILLION ? success(rate) : failure(`must be a whole number from 0 to ${PER_MILLION}`);
}

/** kubectl proxy's format: comma-separated regular expressions; empty means none. */
export function parsePatterns(text: string): Result<readonly RegExp[]> {
  if (text === '') return success([]);
  const patterns: RegExp[] = [];
  for (const source of text.split(',')) {
    try {
      patterns.push(new RegExp(source));
    } catch (error) {
      return failure(`${JSON.stringify(source)} is not a valid regular expression (${(error as Error).message})`);
    }
  }
  return success(Object.freeze(patterns));
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go `time.ParseDuration` syntax (`500ms`, `1.5s`, `1m30s`, `0`), non-negative, in whole milliseconds. */
export function parseDurationMs(text: string): Result<number> {
  const unsigned = text.startsWith('+') ? text.slice(1) : text;
  if (unsigned === '0') return success(0);
  const part = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let match = part.exec(unsigned); match !== null; match = part.exec(unsigned)) {
    total += Number(match[1]) * (DURATION_UNITS_MS[match[2] ?? ''] ?? NaN);
    consumed = part.lastIndex;
  }
  if (unsigned === '' || consumed !== unsigned.length || !Number.isFinite(total)) {
    return failure('must be a duration such as 500ms, 30s, 1m or 1h30m');
  }
  return success(Math.round(total));
}

export function parsePositiveDurationMs(text: string): Result<number> {
  const parsed = parseDurationMs(text);
  return parsed.ok && parsed.value === 0 ? failure('must be longer than 0') : parsed;
}

const QUANTITY_MULTIPLIERS: Readonly<Record<string, number>> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/**
 * Bytes, as the Downward API writes limits.memory (an integer), or a quantity with one of the
 * suffixes of k8s.io/apimachinery/pkg/api/resource/suffix.go (decimal k, M, G, T; binary Ki, Mi,
 * Gi, Ti). Empty: undefined, the cgroup's limit.
 */
export function parseMemoryBytes(text: string): Result<number | undefined> {
  if (text === '') return success(undefined);
  const match = /^(\d+(?:\.\d+)?)(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(text);
  const bytes = match === null ? NaN : Math.floor(Number(match[1]) * (QUANTITY_MULTIPLIERS[match[2] ?? ''] ?? NaN));
  return Number.isSafeInteger(bytes)
    ? success(bytes)
    : failure('must be a number of bytes or a quantity such as 192Mi (0 for no budget)');
}

/** A parser for one word of a closed set, such as `POLICY_MODES`. */
export function oneOf<const T extends string>(choices: readonly T[]): ValueParser<T> {
  const problem = `must be one of ${choices.join(', ')}`;
  return (text) => {
    const choice = choices.find((candidate) => candidate === text);
    return choice === undefined ? failure(problem) : success(choice);
  };
}
