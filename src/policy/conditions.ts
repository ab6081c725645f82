/**
 * A rule's `when`: conditions on what a request carries beyond its attributes (its dry run, its
 * label selector, the streams and ports it asks for), checked on the `ResolvedRequest`, which reads
 * them as the API server will.
 */
import { WRITE_VERBS, dryRunOf } from '../request/dry-run.ts';
import type { ResolvedRequest } from '../request/resolve.ts';
import { pinsLabelKey } from '../request/selectors.ts';
import { isTrueQueryFlag, queryValue, queryValues } from '../request/target.ts';

/**
 * Lists, watches and collection deletes must select by label: their selector must hold an
 * equality (`=`, `==`), `in` or existence requirement, on one of `requireKeys` when given.
 * Negative requirements (`!=`, `notin`, `!key`) and `gt`/`lt` never satisfy it: alone, they
 * select nearly everything.
 */
export interface LabelSelectorCondition {
  readonly requireKeys: ReadonlySet<string> | undefined;
}

export interface Conditions {
  /** Writes only as dry runs, in the API server's reading (see `dryRunOf`). */
  readonly dryRun?: boolean;
  readonly labelSelector?: LabelSelectorCondition;
  /** Whether log requests may follow. */
  readonly follow?: boolean;
  /** exec, attach and log may only name these containers. */
  readonly containers?: readonly string[];
  /** exec may only run exactly these argument vectors. */
  readonly commands?: readonly (readonly string[])[];
  /** Whether exec and attach may send stdin, or ask for a TTY. */
  readonly stdin?: boolean;
  readonly tty?: boolean;
  /**
   * port-forward may only reach these ports, named in the request's `ports=` (as the WebSocket
   * clients of client-node and the Python client send them). kubectl names its ports inside the
   * SPDY stream instead, where the ambassador does not look, so such a rule refuses kubectl.
   */
  readonly ports?: readonly number[];
}

/**
 * The status a refusal is answered with: 403, or 400/415 when a rule's condition could not be
 * checked because the request's DeleteOptions body cannot be read.
 */
export type RefusalCode = 403 | 400 | 415;

export interface FailedCondition {
  /** What the rule allows the request only with, in words: `only without follow`. */
  readonly condition: string;
  readonly code: RefusalCode;
}

const COLLECTION_VERBS: ReadonlySet<string> = new Set(['list', 'watch', 'deletecollection']);
const DECIMAL = /^[+-]?[0-9]+$/;

const NOT_DRY_RUN = failed(
  'only as a dry run (dryRun=All in the query; for a delete with a body, "dryRun": ["All"] in its DeleteOptions)',
);
const NO_PINNED_LABEL = failed(
  'only with a labelSelector that requires a label value or presence (=, ==, in, or a bare key)',
);
const FOLLOWS = failed('only without follow');
const SENDS_STDIN = failed('only without stdin');
const ASKS_TTY = failed('only without a TTY');

function failed(condition: string, code: RefusalCode = 403): FailedCondition {
  return { condition, code };
}

/** The first condition the request fails, or undefined when it meets them all. */
export function failedCondition(when: Conditions, request: ResolvedRequest, verb: string): FailedCondition | undefined {
  const { subresource } = request.attributes;
  return (
    dryRunFailure(when, request, verb) ??
    labelSelectorFailure(when, request, verb) ??
    (subresource === '' ? undefined : streamFailure(when, request.query, subresource))
  );
}

function dryRunFailure(when: Conditions, request: ResolvedRequest, verb: string): FailedCondition | undefined {
  if (when.dryRun !== true || !WRITE_VERBS.has(verb)) return undefined;
  const dryRun = dryRunOf(request, verb);
  switch (dryRun.kind) {
    case 'real':
      return NOT_DRY_RUN;
    case 'not-honoured':
      return failed(`only as a dry run, and the API server does not honour dryRun here: ${dryRun.why}`);
    case 'unreadable':
      return failed(`only as a dry run, and whether this delete is one cannot be read: ${dryRun.message}`, dryRun.code);
    case 'dry-run':
      return undefined;
  }
}

function labelSelectorFailure(when: Conditions, request: ResolvedRequest, verb: string): FailedCondition | undefined {
  if (when.labelSelector === undefined || !COLLECTION_VERBS.has(verb)) return undefined;
  const keys = when.labelSelector.requireKeys;
  if (request.labelSelector !== undefined && pinsLabelKey(request.labelSelector, keys)) return undefined;
  if (keys === undefined) return NO_PINNED_LABEL;
  return failed(
    `only with a labelSelector that requires a value or presence of the label ${[...keys].join(' or ')} (=, ==, in, or a bare key)`,
  );
}

/** The conditions on logs, exec, attach and port-forward, read from the query their clients send. */
function streamFailure(when: Conditions, query: string, subresource: string): FailedCondition | undefined {
  const isExecOrAttach = subresource === 'exec' || subresource === 'attach';
  if (when.follow === false && subresource === 'log' && isTrueQueryFlag(query, 'follow')) return FOLLOWS;
  if (when.containers !== undefined && (isExecOrAttach || subresource === 'log')) {
    const container = queryValue(query, 'container');
    if (container === undefined || !when.containers.includes(container)) {
      return failed(`only for the containers ${when.containers.join(', ')} (named with container=)`);
    }
  }
  if (when.commands !== undefined && subresource === 'exec' && !isAllowedCommand(when.commands, query)) {
    return failed(`only the commands ${when.commands.map((command) => JSON.stringify(command)).join(', ')}`);
  }
  if (when.stdin === false && isExecOrAttach && isTrueQueryFlag(query, 'stdin')) return SENDS_STDIN;
  if (when.tty === false && isExecOrAttach && isTrueQueryFlag(query, 'tty')) return ASKS_TTY;
  if (when.ports !== undefined && subresource === 'portforward' && !areAllowedPorts(when.ports, query)) {
    return failed(
      `only to the ports ${when.ports.join(', ')}, named in the request (ports=); kubectl names its ports inside the stream, where they cannot be checked`,
    );
  }
  return undefined;
}

/** exec's `command=` values, in order, are exactly one of the allowed argument vectors. */
export function isAllowedCommand(allowed: readonly (readonly string[])[], query: string): boolean {
  const command = queryValues(query, 'command');
  for (const candidate of allowed) {
    if (candidate.length === command.length && candidate.every((arg, i) => arg === command[i])) return true;
  }
  return false;
}

/** port-forward names at least one port in `ports=`, and only allowed ones. */
export function areAllowedPorts(allowed: readonly number[], query: string): boolean {
  const ports = queryValues(query, 'ports');
  return ports.length > 0 && ports.every((port) => allowed.includes(portNumber(port)));
}

/** A port as Go's `strconv.ParseInt(value, 10, 32)` reads PortForwardOptions' `ports`; NaN when it would not. */
function portNumber(value: string): number {
  return DECIMAL.test(value) ? Number(value) : Number.NaN;
}
