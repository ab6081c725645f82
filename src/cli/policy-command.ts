/**
 * `kube-api-ambassador policy check --policy FILE [--pod-namespace NS] METHOD TARGET`: validates a
 * policy and prints the attributes and decision the proxy would reach for one request, so a policy
 * can be written and tested without a cluster. Exit codes: 0 allowed, 3 refused, 2 usage or invalid policy.
 * `kube-api-ambassador policy learn …` and `policy replay …`: see learn-command.ts and replay-command.ts.
 */
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { didYouMean } from '../config/nearest.ts';
import { decideRequest } from '../policy/policy.ts';
import { readPolicyFile } from '../policy/store.ts';
import { isStreamingSubresource, type RequestAttributes } from '../request/attributes.ts';
import { resolveTarget } from '../request/resolve.ts';
import { LEARN_USAGE, runLearnCommand } from './learn-command.ts';
import { REPLAY_USAGE, runReplayCommand } from './replay-command.ts';

const EXIT_ALLOWED = 0;
const EXIT_USAGE = 2;
const EXIT_REFUSED = 3;
const CHECK_USAGE = `Usage: kube-api-ambassador policy check --policy FILE [--pod-namespace NS] METHOD TARGET
  e.g. kube-api-ambassador policy check --policy policy.yaml GET '/api/v1/namespaces/team-a/pods?watch=1'
Prints the request's attributes and the decision. Exit code 0 allowed, 3 refused, 2 usage or invalid policy.
$(POD_NAMESPACE) in the policy is --pod-namespace, else $POD_NAMESPACE.
`;
const USAGE = `${CHECK_USAGE}\n${LEARN_USAGE}\n${REPLAY_USAGE}`;
/** Where `policy check` takes `$(POD_NAMESPACE)` from. */
const POD_NAMESPACE_SOURCES = '--pod-namespace NS (or the POD_NAMESPACE variable)';

const FLAGS = {
  policy: { type: 'string' },
  'pod-namespace': { type: 'string' },
  user: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `--polcy: unknown flag, did you mean --policy?` for the first long flag that is not one of FLAGS. */
function unknownFlag(argv: readonly string[]): string | undefined {
  for (const arg of argv) {
    if (arg === '--') return undefined;
    const name = arg.startsWith('--') ? (arg.slice(2).split('=', 1)[0] ?? '') : '';
    if (name !== '' && !Object.hasOwn(FLAGS, name))
      return `${arg}: unknown flag${didYouMean(name, Object.keys(FLAGS), (flag) => `--${flag}`)}`;
  }
  return undefined;
}

interface PolicyArgs {
  readonly positionals: readonly string[];
  readonly values: {
    readonly policy?: string | undefined;
    readonly 'pod-namespace'?: string | undefined;
    readonly user?: string | undefined;
    readonly help?: boolean | undefined;
  };
}

export async function runPolicyCommand(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  stdin: Readable,
  out: Writable,
  err: Writable,
): Promise<number> {
  let parsed: PolicyArgs;
  try {
    parsed = parseArgs({ args: [...argv], options: FLAGS, allowPositionals: true });
  } catch (error) {
    err.write(`${unknownFlag(argv) ?? (error as Error).message}\n${USAGE}`);
    return EXIT_USAGE;
  }
  const [command] = parsed.positionals;
  if (parsed.values.help === true || command === 'help') {
    out.write(USAGE);
    return EXIT_ALLOWED;
  }
  if (command === 'learn') return learn(parsed, stdin, out, err);
  if (command === 'replay') return replay(parsed, env, stdin, out, err);
  return check(parsed, env, out, err);
}

async function learn(
  { positionals, values }: PolicyArgs,
  stdin: Readable,
  out: Writable,
  err: Writable,
): Promise<number> {
  const [, input] = positionals;
  if (values.policy !== undefined || input === undefined || positionals.length !== 2) {
    err.write(
      values.policy === undefined
        ? LEARN_USAGE
        : `--policy is for policy check; learn reads only an audit log\n${LEARN_USAGE}`,
    );
    return EXIT_USAGE;
  }
  return runLearnCommand(input, values['pod-namespace'], values.user, stdin, out, err);
}

async function replay(
  { positionals, values }: PolicyArgs,
  env: Readonly<Record<string, string | undefined>>,
  stdin: Readable,
  out: Writable,
  err: Writable,
): Promise<number> {
  const [, input] = positionals;
  if (values.policy === undefined || input === undefined || positionals.length !== 2) {
    err.write(REPLAY_USAGE);
    return EXIT_USAGE;
  }
  const options = { podNamespace: values['pod-namespace'], user: values.user, env };
  return runReplayCommand(values.policy, input, options, stdin, out, err);
}

async function check(
  { positionals, values }: PolicyArgs,
  env: Readonly<Record<string, string | undefined>>,
  out: Writable,
  err: Writable,
): Promise<number> {
  if (values.user !== undefined) {
    err.write(`--user is for policy learn and policy replay\n${USAGE}`);
    return EXIT_USAGE;
  }
  const [command, method, rawTarget] = positionals;
  const { policy } = values;
  if (
    command !== 'check' ||
    policy === undefined ||
    method === undefined ||
    rawTarget === undefined ||
    positionals.length !== 3
  ) {
    err.write(USAGE);
    return EXIT_USAGE;
  }
  const read = await readPolicyFile(policy, values['pod-namespace'] ?? env['POD_NAMESPACE'], POD_NAMESPACE_SOURCES);
  if (!read.ok) {
    err.write(`invalid policy:\n${read.problem.map((problem) => `  ${problem}\n`).join('')}`);
    return EXIT_USAGE;
  }
  for (const warning of read.value.warnings) err.write(`warning: ${warning}\n`);
  out.write(`request     ${method.toUpperCase()} ${rawTarget}\n`);
  const resolved = resolveTarget(method.toUpperCase(), rawTarget);
  const attributes = resolved.ok ? resolved.value.attributes : resolved.problem.attributes;
  if (attributes !== undefined) out.write(`attributes  ${formatAttributes(attributes)}\n`);
  if (!resolved.ok) {
    out.write(`decision    refused with 400: ${resolved.problem.message}\n`);
    return EXIT_REFUSED;
  }
  const decision = decideRequest(read.value.policy, resolved.value, isStreamingSubresource(resolved.value.attributes));
  out.write(
    `decision    ${decision.allowed ? decision.reason : `refused with ${decision.code}: ${decision.reason}`}\n`,
  );
  return decision.allowed ? EXIT_ALLOWED : EXIT_REFUSED;
}

function formatAttributes(attributes: RequestAttributes): string {
  if (!attributes.isResourceRequest) return `verb=${attributes.verb} nonResourceURL=${attributes.path}`;
  const fields = ['verb', 'apiGroup', 'apiVersion', 'namespace', 'resource', 'subresource', 'name'] as const;
  return fields.map((field) => `${field}=${JSON.stringify(attributes[field])}`).join(' ');
}
