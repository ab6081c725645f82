import { describe, expect, it } from 'vitest';
import {
  breakdown,
  frameCategory,
  GC,
  IDLE,
  NATIVE_WITHOUT_CALLER,
  PROGRAM,
  type CallFrame,
  type CpuProfile,
  type ProfileNode,
} from '../../bench/support/cpu-profile.ts';

const OURS = 'file:///tmp/bench-1/app/dist/';

function frame(url: string, functionName = 'f'): CallFrame {
  return { functionName, url, lineNumber: 9 };
}

describe('frameCategory', () => {
  it.each([
    [frame('', '(garbage collector)'), GC],
    [frame('', '(program)'), PROGRAM],
    [frame('', '(idle)'), IDLE],
    [frame('', 'JSONStringify'), undefined],
    [frame('', '(root)'), undefined],
    [frame(`${OURS}audit/event.js`), 'ours: audit'],
    [frame(`${OURS}main.js`), 'ours: main'],
    [frame(`${OURS}node_modules/prom-client/lib/counter.js`), 'prom-client'],
    [frame('file:///app/node_modules/prom-client/lib/histogram.js'), 'prom-client'],
    [frame('file:///app/node_modules/sonic-boom/index.js'), 'pino / sonic-boom'],
    [frame('file:///app/node_modules/pino/lib/tools.js'), 'pino / sonic-boom'],
    [frame('file:///app/node_modules/@opentelemetry/api/build/src/api/trace.js'), 'OpenTelemetry'],
    [frame('file:///app/node_modules/js-yaml/index.js'), 'package js-yaml'],
    [frame('node:internal/http2/core'), 'Node http2'],
    [frame('node:http2'), 'Node http2'],
    [frame('node:_http_server'), 'Node http (HTTP/1.1)'],
    [frame('node:_tls_wrap'), 'Node tls'],
    [frame('node:net'), 'Node net'],
    [frame('node:internal/stream_base_commons'), 'Node net'],
    [frame('node:internal/streams/readable'), 'Node streams'],
    [frame('node:internal/timers'), 'Node timers'],
    [frame('node:events'), 'Node events'],
    [frame('node:internal/process/task_queues'), 'Node nextTick and microtask queue'],
    [frame('node:internal/perf/observe'), 'Node perf_hooks (GC and event-loop observers)'],
    [frame('node:internal/util'), 'Node other'],
    [frame('file:///elsewhere/script.js'), 'other scripts'],
  ])('%o is %s', (callFrame, category) => {
    expect(frameCategory(callFrame, [OURS])).toBe(category);
  });
});

/** root → ours (audit) → JSON.stringify; root → Node net; root → GC; root → idle; root → a builtin. */
const NODES: ProfileNode[] = [
  { id: 1, callFrame: frame('', '(root)'), children: [2, 4, 5, 6, 7] },
  { id: 2, callFrame: frame(`${OURS}audit/event.js`, 'auditLine'), children: [3] },
  { id: 3, callFrame: frame('', 'JSONStringify') },
  { id: 4, callFrame: frame('node:net', 'onStreamRead') },
  { id: 5, callFrame: frame('', '(garbage collector)') },
  { id: 6, callFrame: frame('', '(idle)') },
  { id: 7, callFrame: frame('', 'ArrayPrototypePush') },
];

/** Samples at t = 100, 110, …: each lasts 10 µs, until the next. */
function profileOf(samples: number[]): CpuProfile {
  return {
    nodes: NODES,
    startTime: 90,
    endTime: 100 + 10 * samples.length,
    samples,
    timeDeltas: samples.map(() => 10),
  };
}

describe('breakdown', () => {
  it('charges builtins to their caller, and a builtin called from nowhere to itself', () => {
    const result = breakdown(profileOf([2, 3, 3, 4, 5, 6, 7, 2]), { from: 0, to: 1_000 }, [OURS]);
    expect(Object.fromEntries(result.byCategory)).toEqual({
      'ours: audit': 30,
      'Node net': 10,
      [GC]: 10,
      [IDLE]: 10,
      [NATIVE_WITHOUT_CALLER]: 10,
    });
    expect(Object.fromEntries(result.byOurFunction)).toEqual({ 'audit/event.js auditLine:10': 30 });
    // The last sample has no next one to end it: it counts for nothing.
    expect(result.sampledUs).toBe(70);
  });

  it('counts only the samples taken in the window', () => {
    // Samples at 100, 110, 120, 130: the window [110, 130) holds the second and third.
    const result = breakdown(profileOf([4, 2, 5, 4]), { from: 110, to: 130 }, [OURS]);
    expect(Object.fromEntries(result.byCategory)).toEqual({ 'ours: audit': 10, [GC]: 10 });
    expect(result.sampledUs).toBe(20);
  });
});
