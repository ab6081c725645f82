/**
 * Command-line and environment configuration: flags (which win), then `KUBE_API_AMBASSADOR_*`
 * variables, then the table's defaults. Every problem is reported at once, naming the flag or the
 * variable; the result is frozen and trusted.
 */
import { didYouMean } from './nearest.ts';
import { ENV_PREFIX, envName, OPTION_KEYS, specOf, type Config, type OptionKey } from './options.ts';

export type OptionsParse =
  | { readonly kind: 'run'; readonly config: Config }
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'invalid'; readonly problems: readonly string[] };

type Env = Readonly<Record<string, string | undefined>>;

const FLAGS = OPTION_KEYS.map((key) => specOf(key).flag);
const BY_FLAG = new Map<string, OptionKey>(OPTION_KEYS.map((key) => [specOf(key).flag, key]));
const BY_SHORT = new Map<string, OptionKey>(
  OPTION_KEYS.flatMap((key) => {
    const { short } = specOf(key);
    return short === undefined ? [] : [[short, key] as const];
  }),
);
const BY_ENV = new Map<string, OptionKey>(OPTION_KEYS.map((key) => [envName(specOf(key).flag), key]));
const FLAG_ARGUMENT = /^(?:--([a-z][a-z-]*)|-([a-zA-Z]))(?:=(.*))?$/s;

export function parseOptions(argv: readonly string[], env: Env): OptionsParse {
  const flags = readFlags(argv);
  if (flags.kind !== 'read') return flags;
  const fromEnv = readEnvironment(env);
  const values = parseValues(flags.values, fromEnv.values);
  const problems = [...flags.problems, ...fromEnv.problems, ...values.problems];
  if (values.explicit.has('unixSocket') && values.explicit.has('port')) {
    problems.push('--unix-socket and --port: give one or the other, not both');
  }
  if (problems.length > 0) return { kind: 'invalid', problems };
  // kubectl proxy's default --reject-paths (no exec, no attach) is the no-policy behaviour; a policy decides that itself.
  if (values.config['policyFile'] !== '' && !values.explicit.has('rejectPaths')) values.config['rejectPaths'] = [];
  return { kind: 'run', config: Object.freeze(values.config as Config) };
}

interface Texts {
  readonly values: ReadonlyMap<OptionKey, string>;
  readonly problems: readonly string[];
}

/** The text of each flag given; --help or --version anywhere ends the reading. */
function readFlags(
  argv: readonly string[],
): (Texts & { readonly kind: 'read' }) | { readonly kind: 'help' | 'version' } {
  const values = new Map<OptionKey, string>();
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    if (arg === '--version') return { kind: 'version' };
    const flag = FLAG_ARGUMENT.exec(arg);
    const key = flag === null ? undefined : flag[1] !== undefined ? BY_FLAG.get(flag[1]) : BY_SHORT.get(flag[2] ?? '');
    if (flag === null || key === undefined) {
      problems.push(unknownArgument(arg));
      continue;
    }
    const spec = specOf(key);
    let value = flag[3];
    if (value === undefined) {
      if (spec.isSwitch === true) value = 'true';
      else if (i + 1 < argv.length) value = argv[++i];
      else {
        problems.push(`--${spec.flag}: needs a value`);
        continue;
      }
    }
    values.set(key, value ?? '');
  }
  return { kind: 'read', values, problems };
}

function readEnvironment(env: Env): Texts {
  const values = new Map<OptionKey, string>();
  const problems: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined || isServiceLink(name, value)) continue;
    const key = BY_ENV.get(name);
    if (key !== undefined) values.set(key, value);
    else problems.push(`${name}: unknown environment variable${suggestVariable(name)} (see --help)`);
  }
  return { values, problems };
}

/** Each option's value from its flag, else its variable, else its default. */
function parseValues(
  fromFlags: ReadonlyMap<OptionKey, string>,
  fromEnv: ReadonlyMap<OptionKey, string>,
): { config: Record<string, unknown>; explicit: Set<OptionKey>; problems: string[] } {
  const config: Record<string, unknown> = {};
  const explicit = new Set<OptionKey>();
  const problems: string[] = [];
  for (const key of OPTION_KEYS) {
    const spec = specOf(key);
    const flagValue = fromFlags.get(key);
    const envValue = fromEnv.get(key);
    const text = flagValue ?? envValue ?? spec.defaultText;
    if (flagValue !== undefined || envValue !== undefined) explicit.add(key);
    const parsed = spec.parse(text);
    if (parsed.ok) {
      config[key] = parsed.value;
      continue;
    }
    const source =
      flagValue !== undefined
        ? `--${spec.flag}`
        : envValue !== undefined
          ? envName(spec.flag)
          : `--${spec.flag} default`;
    problems.push(`${source}: ${parsed.problem}, got ${JSON.stringify(text)}`);
  }
  return { config, explicit, problems };
}

/** `--prot: unknown flag, did you mean --port? (see --help)`; a word alone is an unknown argument. */
function unknownArgument(arg: string): string {
  if (!arg.startsWith('-')) return `${arg}: unknown argument (see --help)`;
  const typed = arg.startsWith('--') ? (arg.slice(2).split('=', 1)[0] ?? '') : '';
  return `${arg}: unknown flag${typed === '' ? '' : didYouMean(typed, FLAGS, (flag) => `--${flag}`)} (see --help)`;
}

/** Compares the part after the prefix, so that one typo in a short name is still a near miss. */
function suggestVariable(name: string): string {
  const suffixes = [...BY_ENV.keys()].map((known) => known.slice(ENV_PREFIX.length));
  return didYouMean(name.slice(ENV_PREFIX.length), suffixes, (suffix) => ENV_PREFIX + suffix);
}

/**
 * Kubernetes injects `{SERVICE}_PORT=tcp://…`, `{SERVICE}_SERVICE_HOST` and the like for every
 * Service in the namespace, so a Service named kube-api-ambassador would otherwise look like
 * misspelt options.
 */
function isServiceLink(name: string, value: string): boolean {
  return /^(tcp|udp|sctp):\/\//.test(value) || /_SERVICE_(HOST|PORT)|_PORT_\d+_(TCP|UDP|SCTP)/.test(name);
}
