/**
 * `kube-api-ambassador policy replay --policy FILE [--pod-namespace NS] [--user USER] AUDIT_LOG`:
 * decides every request an audit log records (the ambassador's or kube-apiserver's) against a
 * policy, with the ambassador's own decision code, and prints what the policy would refuse.
 * Exit codes: 0 nothing refused, 3 something refused, 1 no requests, 2 usage, unreadable input or
 * invalid policy.
 */
import type { Readable, Writable } from 'node:stream';
import { RecordedLog } from '../history/recorded-log.ts';
import { CAVEATS, Replayer, type Caveat, type RefusedGroup, type ReplayResult } from '../history/replay.ts';
import { readPolicyFile } from '../policy/store.ts';
import { chooseUser, EXIT_USAGE, readLines, serviceAccountNamespace, sourceName } from './audit-input.ts';

const EXIT_NOTHING_REFUSED = 0;
const EXIT_REFUSED = 3;
const EXAMPLE_LENGTH = 100;

export const REPLAY_USAGE = `Usage: kube-api-ambassador policy replay --policy FILE [--pod-namespace NS] [--user USER] AUDIT_LOG
  e.g. kube-api-ambassador policy replay --policy policy.yaml --user system:serviceaccount:team-a:analytics apiserver-audit.log
Decides every request in AUDIT_LOG (the ambassador's or kube-apiserver's; - reads stdin) that was let
through, with the ambassador's own decision code, and prints what the policy would refuse, grouped by
verb, resource and namespace, with an example, the rule that came closest and the condition it failed.
--user chooses one user's requests in kube-apiserver's log (required when it holds several).
$(POD_NAMESPACE) in the policy is --pod-namespace, else the namespace of a service account USER,
else $POD_NAMESPACE. Exit code 0 nothing refused, 3 something refused, 1 no requests, 2 usage,
unreadable input or invalid policy.
`;

export async function runReplayCommand(
  policyFile: string,
  input: string,
  options: {
    readonly podNamespace: string | undefined;
    readonly user: string | undefined;
    readonly env: Readonly<Record<string, string | undefined>>;
  },
  stdin: Readable,
  out: Writable,
  err: Writable,
): Promise<number> {
  const podNamespace = options.podNamespace ?? serviceAccountNamespace(options.user) ?? options.env['POD_NAMESPACE'];
  const read = await readPolicyFile(policyFile, podNamespace);
  if (!read.ok) {
    err.write(`invalid policy:\n${read.problem.map((problem) => `  ${problem}\n`).join('')}`);
    return EXIT_USAGE;
  }
  const source = sourceName(input);
  const replayer = new Replayer(read.value.policy);
  const log = new RecordedLog((event) => replayer.replay(event), options.user);
  const problem = await readLines(input, stdin, (line) => log.read(line));
  if (problem !== undefined) {
    err.write(`cannot read ${source}: ${problem}\n`);
    return EXIT_USAGE;
  }
  const summary = log.finish();
  const chosen = chooseUser(summary, options.user, source);
  if (!chosen.ok) {
    err.write(summary.events === 0 ? `no audit events in ${source}\n` : chosen.problem.message);
    return chosen.problem.exit;
  }
  const result = replayer.finish();
  const whose = chosen.value === '' ? '' : ` of ${chosen.value}`;
  out.write(
    `${result.decided} request${result.decided === 1 ? '' : 's'}${whose} in ${source} decided against ${policyFile}: ${result.allowed} allowed, ${result.refused} refused.\n`,
  );
  out.write(renderReport(result));
  if (summary.malformedLines > 0)
    err.write(
      `${source}: skipped ${summary.malformedLines} malformed line(s), the first on line ${summary.firstMalformed[0]?.line}\n`,
    );
  return result.refused > 0 ? EXIT_REFUSED : EXIT_NOTHING_REFUSED;
}

function renderReport(result: ReplayResult): string {
  const lines = notReplayed(result);
  if (result.groups.length > 0) lines.push('', 'Refused:', ...table(result.groups));
  const caveats = new Set<Caveat>([
    ...result.groups.flatMap((group) => (group.caveat === undefined ? [] : [group.caveat])),
    ...result.uncertainAllowed.keys(),
  ]);
  for (const caveat of caveats) {
    const allowed = result.uncertainAllowed.get(caveat) ?? 0;
    lines.push(
      '',
      `[${caveatNumber(caveat)}] ${CAVEATS[caveat]}${allowed === 0 ? '' : `; ${allowed} allowed request${allowed === 1 ? ' was' : 's were'} decided so too`}.`,
    );
  }
  if (result.mismatched > 0) {
    lines.push(
      '',
      `NOTE: ${result.mismatched} request${result.mismatched === 1 ? '' : 's'} resolved otherwise than the server recorded, decided as the ambassador resolves them; the first: ${result.firstMismatch}`,
    );
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function notReplayed(result: ReplayResult): string[] {
  const parts = [
    result.recordedRefused === 0 ? '' : `${result.recordedRefused} the server refused when it was made`,
    result.impersonated === 0
      ? ''
      : `${result.impersonated} made as another user (Impersonate-User, which the ambassador drops)`,
    result.undecided === 0 ? '' : `${result.undecided} without an authorization decision`,
  ].filter((part) => part !== '');
  return parts.length === 0 ? [] : [`Not decided: ${parts.join(', ')}.`];
}

function caveatNumber(caveat: Caveat): number {
  return Object.keys(CAVEATS).indexOf(caveat) + 1;
}

function table(groups: readonly RefusedGroup[]): string[] {
  const rows = [
    ['VERB', 'RESOURCE', 'NAMESPACE', 'COUNT', 'EXAMPLE', 'RULE', 'FAILED CONDITION'],
    ...groups.map((group) => [
      group.verb,
      group.resource,
      group.namespace === '' ? '-' : group.namespace,
      String(group.count),
      shorten(group.exampleUri),
      group.rule ?? '-',
      `${group.condition}${group.caveat === undefined ? '' : ` [${caveatNumber(group.caveat)}]`}`,
    ]),
  ];
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows.map((row) =>
    row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  '),
  );
}

function shorten(uri: string): string {
  return uri.length <= EXAMPLE_LENGTH ? uri : `${uri.slice(0, EXAMPLE_LENGTH - 1)}…`;
}
