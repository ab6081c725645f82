/**
 * What a benchmark comparison supplies to the shared runner: which forwarders to start, which two
 * to put head to head, and the text and file of its report. The direct path to nginx is always
 * measured as well, as the limit.
 */
import type { Contender, UpstreamAccess } from './contenders.ts';

/** Starts one forwarder; `home` is a private directory to use as its $HOME. */
export type StartContender = (upstream: UpstreamAccess, home: string) => Promise<Contender>;

export interface Comparison {
  /** The report's heading, without the `#`. */
  readonly title: string;
  /** How the comparison is run, e.g. `npm run bench:forwarders`. */
  readonly command: string;
  /** Absolute path of the markdown report. */
  readonly resultsFile: string;
  /** Started in this order, after nginx; each appears in the tables under its contender name. */
  readonly forwarders: readonly StartContender[];
  /** Contender names: the head-to-head table gives the first's medians over the second's. */
  readonly headToHead: readonly [string, string];
  /** Markdown bullets describing each forwarder, one `- **name**: …` each. */
  readonly description: string;
  /** Versions worth reporting besides Node, ours, nginx and wrk, e.g. `http-proxy-3 1.23.3`. */
  readonly versions?: readonly string[];
}
