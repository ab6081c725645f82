/**
 * Why the ambassador did not start, as one error: every problem found, and whether it lies in the
 * configuration (options, the cluster, credentials, policy files) or in listening.
 */

/** `configuration`: fix the options or files, the process exits 2. `listen`: a listener failed, exit 1. */
export type StartupStage = 'configuration' | 'listen';

export class StartupError extends Error {
  readonly stage: StartupStage;
  readonly problems: readonly string[];

  /**
   * With a `heading`, the message is the heading and the problems below it, one a line; without
   * one, the problems on one line each.
   */
  constructor(stage: StartupStage, problems: readonly string[], heading?: string) {
    super(heading === undefined ? problems.join('\n') : `${heading}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'StartupError';
    this.stage = stage;
    this.problems = problems;
  }
}
