/**
 * Where a V8 CPU profile (`node --cpu-prof`, a .cpuprofile file) spent its time, by category: our
 * code by its src/ folder, our packages, Node's own modules by subsystem, garbage collection. Pure.
 *
 * A frame without a script (a V8 builtin such as JSON.stringify, or a native function) is charged to
 * the nearest caller that has one: a builtin our audit code calls is the audit's cost, one Node's
 * http parser calls is Node's. `(program)` (V8 and Node native work outside any JavaScript) and
 * `(idle)` are counted apart, outside the busy total.
 */

export interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

export interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

/** The parts of the .cpuprofile JSON read here; times in microseconds of the monotonic clock. */
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export const GC = 'GC';
export const PROGRAM = '(program)';
export const IDLE = '(idle)';
export const NATIVE_WITHOUT_CALLER = 'V8 builtins and native, no JS caller';
/** Category names of our own code start with this, followed by the src/ folder. */
export const OURS_PREFIX = 'ours: ';

const SPECIAL_FRAMES: ReadonlyMap<string, string> = new Map([
  ['(garbage collector)', GC],
  ['(program)', PROGRAM],
  ['(idle)', IDLE],
]);

/** Node's modules, by the start of their `node:` URL; the first match wins. */
const NODE_SUBSYSTEMS: readonly (readonly [string, string])[] = [
  ['node:internal/http2/', 'Node http2'],
  ['node:http2', 'Node http2'],
  ['node:_http_', 'Node http (HTTP/1.1)'],
  ['node:http', 'Node http (HTTP/1.1)'],
  ['node:internal/http', 'Node http (HTTP/1.1)'],
  ['node:_tls', 'Node tls'],
  ['node:tls', 'Node tls'],
  ['node:internal/tls', 'Node tls'],
  ['node:net', 'Node net'],
  ['node:internal/net', 'Node net'],
  ['node:internal/stream_base_commons', 'Node net'],
  ['node:internal/streams/', 'Node streams'],
  ['node:stream', 'Node streams'],
  ['node:internal/timers', 'Node timers'],
  ['node:timers', 'Node timers'],
  ['node:events', 'Node events'],
  ['node:internal/process/task_queues', 'Node nextTick and microtask queue'],
  ['node:async_hooks', 'Node async_hooks'],
  ['node:internal/async_hooks', 'Node async_hooks'],
  ['node:internal/perf/', 'Node perf_hooks (GC and event-loop observers)'],
  ['node:perf_hooks', 'Node perf_hooks (GC and event-loop observers)'],
];

const PINO_PACKAGES = new Set([
  'pino',
  'sonic-boom',
  'pino-std-serializers',
  'quick-format-unescaped',
  'atomic-sleep',
  'on-exit-leak-free',
  'thread-stream',
  'fast-redact',
  '@pinojs/redact',
]);

/** The package a node_modules URL belongs to (`@scope/name` or `name`), or undefined. */
function packageOf(url: string): string | undefined {
  const at = url.lastIndexOf('/node_modules/');
  if (at < 0) return undefined;
  const [first = '', second = ''] = url.slice(at + '/node_modules/'.length).split('/');
  return first.startsWith('@') ? `${first}/${second}` : first;
}

/**
 * The category of a frame, or undefined for a frame without a script (charged to its caller).
 * `ourRoots` are the URL prefixes of our program (`file:///…/dist/`, `file:///…/src/`): a file
 * directly in one is `ours: main`, one in a folder `ours: <folder>`.
 */
export function frameCategory(frame: CallFrame, ourRoots: readonly string[]): string | undefined {
  const special = SPECIAL_FRAMES.get(frame.functionName);
  if (special !== undefined && frame.url === '') return special;
  if (frame.url === '') return undefined;
  const packageName = packageOf(frame.url);
  if (packageName !== undefined) {
    if (packageName === 'prom-client') return 'prom-client';
    if (PINO_PACKAGES.has(packageName)) return 'pino / sonic-boom';
    if (packageName.startsWith('@opentelemetry/')) return 'OpenTelemetry';
    return `package ${packageName}`;
  }
  if (frame.url.startsWith('node:')) {
    return NODE_SUBSYSTEMS.find(([prefix]) => frame.url.startsWith(prefix))?.[1] ?? 'Node other';
  }
  const root = ourRoots.find((prefix) => frame.url.startsWith(prefix));
  if (root === undefined) return 'other scripts';
  const rest = frame.url.slice(root.length);
  const slash = rest.indexOf('/');
  return `${OURS_PREFIX}${slash < 0 ? 'main' : rest.slice(0, slash)}`;
}

export interface Breakdown {
  /** Sampled microseconds by category, `(program)` and `(idle)` included. */
  readonly byCategory: ReadonlyMap<string, number>;
  /** Sampled microseconds by our function (`folder/file.js functionName:line`), builtins it calls included. */
  readonly byOurFunction: ReadonlyMap<string, number>;
  /** Microseconds of samples in the window. */
  readonly sampledUs: number;
}

/** Microseconds of the samples taken between `from` and `to` (the profile's clock), by category. */
export function breakdown(
  profile: CpuProfile,
  window: { readonly from: number; readonly to: number },
  ourRoots: readonly string[],
): Breakdown {
  const attribution = attributeNodes(profile.nodes, ourRoots);
  const byCategory = new Map<string, number>();
  const byOurFunction = new Map<string, number>();
  let sampledUs = 0;
  // A sample lasts until the next one: its duration is the next time delta.
  let time = profile.startTime;
  for (let index = 0; index < profile.samples.length; index++) {
    time += profile.timeDeltas[index] ?? 0;
    const durationUs = profile.timeDeltas[index + 1] ?? 0;
    if (time < window.from || time >= window.to) continue;
    const node = attribution.get(profile.samples[index] ?? -1);
    if (node === undefined) continue;
    sampledUs += durationUs;
    add(byCategory, node.category, durationUs);
    if (node.ourFunction !== undefined) add(byOurFunction, node.ourFunction, durationUs);
  }
  return { byCategory, byOurFunction, sampledUs };
}

interface Attribution {
  readonly category: string;
  /** Set when the category is our code. */
  readonly ourFunction: string | undefined;
}

/** Each node's category, frames without a script taking their caller's (parents come before children). */
function attributeNodes(nodes: readonly ProfileNode[], ourRoots: readonly string[]): Map<number, Attribution> {
  const parents = new Map<number, number>();
  for (const node of nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const attributed = new Map<number, Attribution>();
  const attribute = (node: ProfileNode): Attribution => {
    const known = attributed.get(node.id);
    if (known !== undefined) return known;
    const category = frameCategory(node.callFrame, ourRoots);
    let result: Attribution;
    if (category !== undefined) {
      result = {
        category,
        ourFunction: category.startsWith(OURS_PREFIX) ? functionKey(node.callFrame, ourRoots) : undefined,
      };
    } else {
      const parent = byId.get(parents.get(node.id) ?? -1);
      result = parent === undefined ? { category: NATIVE_WITHOUT_CALLER, ourFunction: undefined } : attribute(parent);
    }
    attributed.set(node.id, result);
    return result;
  };
  for (const node of nodes) attribute(node);
  return attributed;
}

function functionKey(frame: CallFrame, ourRoots: readonly string[]): string {
  const root = ourRoots.find((prefix) => frame.url.startsWith(prefix)) ?? '';
  return `${frame.url.slice(root.length)} ${frame.functionName || '(anonymous)'}:${frame.lineNumber + 1}`;
}

function add(totals: Map<string, number>, key: string, value: number): void {
  totals.set(key, (totals.get(key) ?? 0) + value);
}
