/**
 * The policy in force: read and compiled at start (a bad file is fatal), then re-read on a timer
 * so edits to a mounted ConfigMap (an atomic symlink swap) take effect without a restart. A new
 * version that does not parse or validate is logged and ignored; the last good one stays in force.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { readYamlFile } from '../config/document.ts';
import { failure, success, type Result } from '../config/result.ts';
import { compilePolicy, type CompiledPolicy } from './compile.ts';
import type { Policy } from './policy.ts';

/** A compiled policy and the text it was compiled from. */
export interface PolicyFile extends CompiledPolicy {
  readonly text: string;
}

/** Reads, parses (YAML or JSON) and compiles a policy file (see compilePolicy). Never rejects. */
export async function readPolicyFile(
  file: string,
  podNamespace: string | undefined,
  podNamespaceSources?: string,
): Promise<Result<PolicyFile, readonly string[]>> {
  const read = await readYamlFile(file);
  if (!read.ok) return read;
  const compiled = compilePolicy(read.value.document, file, podNamespace, podNamespaceSources);
  return compiled.ok ? success({ ...compiled.value, text: read.value.text }) : failure(compiled.problem);
}

export class PolicyStore {
  #current: Policy;
  #text: string;
  readonly #file: string;
  readonly #podNamespace: string | undefined;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;
  #rejectedText: string | undefined;
  #lastProblem: string | undefined;
  readonly #reloadListeners: ((ok: boolean) => void)[] = [];

  private constructor(
    policy: Policy,
    text: string,
    file: string,
    podNamespace: string | undefined,
    intervalMs: number,
    log: Logger,
  ) {
    this.#current = policy;
    this.#text = text;
    this.#file = file;
    this.#podNamespace = podNamespace;
    this.#log = log;
    this.#timer = setInterval(() => void this.reload(), intervalMs).unref();
  }

  /** Loads the policy; rejects with every problem listed if it is not valid. */
  static async open(
    file: string,
    podNamespace: string | undefined,
    intervalMs: number,
    log: Logger,
  ): Promise<PolicyStore> {
    const read = await readPolicyFile(file, podNamespace);
    if (!read.ok) throw new Error(`invalid policy:\n  ${read.problem.join('\n  ')}`);
    const { policy, warnings, text } = read.value;
    for (const warning of warnings) log.warn({ policy: file }, warning);
    return new PolicyStore(policy, text, file, podNamespace, intervalMs, log);
  }

  get current(): Policy {
    return this.#current;
  }

  /** Re-reads the file; swaps the policy in if it changed and is valid. */
  async reload(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (error) {
      this.#reject(`cannot read it: ${(error as Error).message}`, undefined);
      return;
    }
    if (text === this.#text || text === this.#rejectedText) return;
    const read = await readPolicyFile(this.#file, this.#podNamespace);
    if (!read.ok || read.value.text !== text) {
      this.#reject(read.ok ? 'it changed while being read' : read.problem.join('; '), text);
      return;
    }
    const { policy, warnings } = read.value;
    this.#current = policy;
    this.#text = text;
    this.#rejectedText = undefined;
    this.#lastProblem = undefined;
    this.#log.info({ policy: this.#file, rules: policy.rules.length }, 'policy reloaded');
    for (const warning of warnings) this.#log.warn({ policy: this.#file }, warning);
    for (const listener of this.#reloadListeners) listener(true);
  }

  /** Called for every changed version of the file, with whether it was applied. */
  onReload(listener: (ok: boolean) => void): void {
    this.#reloadListeners.push(listener);
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /** Logs a rejected version once, not on every tick. */
  #reject(problem: string, text: string | undefined): void {
    this.#rejectedText = text;
    if (problem === this.#lastProblem) return;
    this.#lastProblem = problem;
    for (const listener of this.#reloadListeners) listener(false);
    this.#log.error(
      { policy: this.#file, problem },
      'the changed policy is not valid; keeping the previous one in force',
    );
  }
}
