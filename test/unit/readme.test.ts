import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envName, renderHelp, type OptionName } from '../../src/config/options.ts';
import {
  badRequest,
  forbidden,
  gatewayTimeout,
  headersTooLarge,
  internalError,
  notFound,
  serviceUnavailable,
  type ProxyStatus,
} from '../../src/proxy/status.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const FLAGS = [...renderHelp('x').matchAll(/^ {2}(?:-\w, )?--([a-z-]+)(?: VALUE)? {3}\[/gm)].map((match) => match[1] as OptionName);

describe('the README documents', () => {
  it('every option, with its environment variable and default, in the configuration table', () => {
    expect(FLAGS.length).toBeGreaterThan(20);
    for (const flag of FLAGS) {
      expect(README, flag).toMatch(new RegExp(`^\\| \`--${flag}\`[^\\n]*\\| \`${envName(flag)}\` \\|`, 'm'));
    }
  });

  it.each<[string, ProxyStatus]>([
    ['badRequest', badRequest('x')],
    ['forbidden', forbidden('x')],
    ['notFound', notFound('x')],
    ['headersTooLarge', headersTooLarge()],
    ['internalError', internalError('x')],
    ['serviceUnavailable', serviceUnavailable('x')],
    ['gatewayTimeout', gatewayTimeout('x')],
  ])('the Status that %s produces, in the errors table', (_, status) => {
    expect(README).toMatch(new RegExp(`^\\| ${status.code} \\| \`${status.reason}\` \\|`, 'm'));
  });
});
