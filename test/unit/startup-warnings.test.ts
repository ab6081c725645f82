import { describe, expect, it } from 'vitest';
import { startupWarnings, type StartupFacts } from '../../src/app/startup-warnings.ts';
import { budgetFor } from '../../src/proxy/memory-budget.ts';

const MIB = 2 ** 20;
const HOST_NETWORK =
  "the pod uses host networking: 127.0.0.1 is the node's loopback, so every host-network pod and process on the node can use the ambassador";
const FILTER_DISABLED = 'the request filter is disabled: any local program or web page can use the ambassador';
const FILTER_RELAXED = 'the request filter has been relaxed';
const HEAP_OUTGROWS =
  'the V8 heap may outgrow the memory budget: run with --max-old-space-size-percentage, as the image does';

const DEFAULTS: StartupFacts = {
  config: { disableFilter: false, policyFile: '', rejectPaths: [/^\/api\/.*\/pods\/.*\/exec/], rejectMethods: [/^$/] },
  env: {},
  budget: undefined,
  heapLimitBytes: 4096 * MIB,
};

function facts(overrides: Partial<StartupFacts>, config: Partial<StartupFacts['config']> = {}): StartupFacts {
  return { ...DEFAULTS, ...overrides, config: { ...DEFAULTS.config, ...config } };
}

describe('startupWarnings', () => {
  it.each<[string, StartupFacts, readonly string[]]>([
    ['the defaults: none', DEFAULTS, []],
    ['pod network (pod and host IPs differ)', facts({ env: { POD_IP: '10.244.1.7', HOST_IP: '10.0.0.4' } }), []],
    ['host network (the same IP)', facts({ env: { POD_IP: '10.0.0.4', HOST_IP: '10.0.0.4' } }), [HOST_NETWORK]],
    ['no Downward API: unknown, no warning', facts({ env: { POD_IP: '', HOST_IP: '' } }), []],
    ['filter disabled', facts({}, { disableFilter: true }), [FILTER_DISABLED]],
    ['filter disabled, with a policy too', facts({}, { disableFilter: true, policyFile: 'p.yaml' }), [FILTER_DISABLED]],
    ['exec and attach allowed', facts({}, { rejectPaths: [] }), [FILTER_RELAXED]],
    ['every method allowed', facts({}, { rejectMethods: [] }), [FILTER_RELAXED]],
    ['a policy decides exec and attach itself', facts({}, { policyFile: 'p.yaml', rejectPaths: [] }), []],
    ['a heap within the budget', facts({ budget: budgetFor(512 * MIB), heapLimitBytes: 256 * MIB }), []],
    ['a heap that can outgrow the budget', facts({ budget: budgetFor(512 * MIB) }), [HEAP_OUTGROWS]],
    ['no budget, any heap', facts({ heapLimitBytes: 64 * 1024 * MIB }), []],
    [
      'all at once',
      facts(
        { env: { POD_IP: '10.0.0.4', HOST_IP: '10.0.0.4' }, budget: budgetFor(512 * MIB) },
        { disableFilter: true },
      ),
      [HOST_NETWORK, FILTER_DISABLED, HEAP_OUTGROWS],
    ],
  ])('%s', (_, input, expected) => {
    expect(startupWarnings(input).map((warning) => warning.message)).toEqual(expected);
  });

  it('names the addresses and the heap limit in the fields', () => {
    expect(
      startupWarnings(
        facts({
          env: { POD_IP: '10.0.0.4', HOST_IP: '10.0.0.4' },
          budget: budgetFor(512 * MIB),
          heapLimitBytes: 1024 * MIB,
        }),
      ).map((warning) => warning.fields),
    ).toEqual([{ podIp: '10.0.0.4', hostIp: '10.0.0.4' }, { heapLimitMiB: 1024 }]);
  });
});
