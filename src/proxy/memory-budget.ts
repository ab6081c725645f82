/**
 * The memory budget: the container's memory limit, and the resident set the process lets itself
 * reach before it sheds new requests with 429 instead of growing into an OOM kill. Memory is
 * sampled on a coarse timer, never per request: a request only reads `shedding`.
 */

/** Past this share of the limit, new requests are shed; the rest is headroom for those in flight. */
export const SHED_AT = 0.85;
/** Shedding stops below this share, so the gate does not flap at the threshold. */
export const RESUME_AT = 0.75;
/** Also shed when the V8 heap holds this share of its own limit: V8 aborts the process past it. */
export const HEAP_SHED_AT = 0.9;
/** RSS grows by some 30 MiB a second under a burst of large lists: the 15% headroom above the shedding point covers several samples. */
export const SAMPLE_INTERVAL_MS = 250;

export interface MemoryBudget {
  readonly limitBytes: number;
  readonly shedAtBytes: number;
  readonly resumeAtBytes: number;
}

export function budgetFor(limitBytes: number): MemoryBudget {
  return {
    limitBytes,
    shedAtBytes: Math.floor(limitBytes * SHED_AT),
    resumeAtBytes: Math.floor(limitBytes * RESUME_AT),
  };
}

/**
 * The limit the process lives within: `--memory-limit` when given (0: none), else the cgroup's limit
 * as Node reads it (`process.constrainedMemory()`), which is 0 or larger than the machine outside a
 * container with a limit.
 */
export function effectiveLimit(configured: number | undefined, constrained: number, totalMemory: number): number {
  if (configured !== undefined) return configured;
  return constrained > 0 && constrained < totalMemory ? constrained : 0;
}

export interface MemorySample {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly heapLimitBytes: number;
}

/** Whether to shed after this sample, given whether the gate was shedding before it (hysteresis). */
export function nextShedding(shedding: boolean, sample: MemorySample, budget: MemoryBudget): boolean {
  if (sample.heapUsedBytes >= sample.heapLimitBytes * HEAP_SHED_AT) return true;
  return shedding ? sample.rssBytes >= budget.resumeAtBytes : sample.rssBytes >= budget.shedAtBytes;
}

/** Re-samples memory every SAMPLE_INTERVAL_MS; the timer does not keep the process alive. */
export class MemoryGate {
  readonly budget: MemoryBudget;
  shedding = false;
  readonly #sample: () => MemorySample;
  readonly #onChange: (shedding: boolean, sample: MemorySample) => void;
  readonly #timer: NodeJS.Timeout;

  /** `onChange` is told when shedding starts or stops, with the sample that decided it. */
  constructor(
    budget: MemoryBudget,
    sample: () => MemorySample,
    onChange: (shedding: boolean, sample: MemorySample) => void,
  ) {
    this.budget = budget;
    this.#sample = sample;
    this.#onChange = onChange;
    this.update();
    this.#timer = setInterval(sampleGate, SAMPLE_INTERVAL_MS, this);
    this.#timer.unref();
  }

  update(): void {
    const sample = this.#sample();
    const shedding = nextShedding(this.shedding, sample, this.budget);
    if (shedding === this.shedding) return;
    this.shedding = shedding;
    this.#onChange(shedding, sample);
  }

  close(): void {
    clearInterval(this.#timer);
  }
}

function sampleGate(gate: MemoryGate): void {
  gate.update();
}
