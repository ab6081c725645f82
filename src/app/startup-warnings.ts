/**
 * What the ambassador warns about as it starts: settings that leave it more open, or less safe,
 * than its defaults. A pure function of the configuration and what the process found.
 */
import type { Config } from '../config/options.ts';
import type { MemoryBudget } from '../proxy/memory-budget.ts';

export interface StartupWarning {
  readonly message: string;
  readonly fields?: Readonly<Record<string, unknown>>;
}

export interface StartupFacts {
  readonly config: Pick<Config, 'disableFilter' | 'policyFile' | 'rejectPaths' | 'rejectMethods'>;
  /** POD_IP and HOST_IP, as the Downward API sets them. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The memory budget, when there is one. */
  readonly budget: MemoryBudget | undefined;
  readonly heapLimitBytes: number;
}

const MIB = 2 ** 20;

export function startupWarnings({ config, env, budget, heapLimitBytes }: StartupFacts): StartupWarning[] {
  const warnings: StartupWarning[] = [];
  const { POD_IP: podIp, HOST_IP: hostIp } = env;
  if (podIp !== undefined && podIp !== '' && podIp === hostIp) {
    warnings.push({
      fields: { podIp, hostIp },
      message:
        "the pod uses host networking: 127.0.0.1 is the node's loopback, so every host-network pod and process on the node can use the ambassador",
    });
  }
  if (config.disableFilter) {
    warnings.push({ message: 'the request filter is disabled: any local program or web page can use the ambassador' });
  } else if (config.policyFile === '' && (config.rejectPaths.length === 0 || config.rejectMethods.length === 0)) {
    warnings.push({ message: 'the request filter has been relaxed' });
  }
  if (budget !== undefined && heapLimitBytes > budget.shedAtBytes) {
    warnings.push({
      fields: { heapLimitMiB: Math.round(heapLimitBytes / MIB) },
      message: 'the V8 heap may outgrow the memory budget: run with --max-old-space-size-percentage, as the image does',
    });
  }
  return warnings;
}
