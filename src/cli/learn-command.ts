/**
 * `kube-api-ambassador policy learn [--pod-namespace NS] AUDIT_LOG`: reads an audit log the
 * ambassador wrote (a file, or `-` for stdin) and prints the smallest policy that allows every
 * request in it. Exit codes: 0 printed, 1 no audit events in the input, 2 usage or unreadable input.
 */
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { AuditLogReader, learnRules, renderLearnedPolicy } from '../policy/learn.ts';

const EXIT_PRINTED = 0;
const EXIT_NO_EVENTS = 1;
const EXIT_USAGE = 2;
const STDIN = '-';
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const LEARN_USAGE = `Usage: kube-api-ambassador policy learn [--pod-namespace NS] AUDIT_LOG
  e.g. kube-api-ambassador policy learn --pod-namespace team-a audit.log > policy.yaml
Prints, as YAML, the smallest policy that allows every request in AUDIT_LOG (a file the ambassador
wrote with --audit-log-path, or its stdout; - reads stdin): one rule per set of verbs, API groups,
resources and namespaces used together. Requests in the namespace NS are written as $(POD_NAMESPACE).
resourceNames are never learned: each rule covers every object of its resources.
Learned: decisions allow, would_deny (--policy-mode log) and throttled. Listed in the header but not
learned: deny (refused by the request filter or an enforced policy). Counted: invalid requests.
Exit code 0 printed, 1 no audit events in the input, 2 usage or unreadable input.
`;

export async function runLearnCommand(
  input: string,
  podNamespace: string | undefined,
  stdin: Readable,
  out: Writable,
  err: Writable,
): Promise<number> {
  if (podNamespace !== undefined && !NAMESPACE_NAME.test(podNamespace)) {
    err.write(`--pod-namespace: ${JSON.stringify(podNamespace)} is not a namespace name\n${LEARN_USAGE}`);
    return EXIT_USAGE;
  }
  const reader = new AuditLogReader();
  const source = input === STDIN ? 'stdin' : input;
  try {
    const file = input === STDIN ? undefined : await open(input);
    const lines = createInterface({ input: file?.createReadStream({ encoding: 'utf8' }) ?? stdin, crlfDelay: Infinity });
    for await (const line of lines) reader.read(line);
  } catch (error) {
    err.write(`cannot read ${source}: ${(error as Error).message}\n`);
    return EXIT_USAGE;
  }
  const summary = reader.finish();
  if (summary.events === 0) {
    err.write(
      `no audit events in ${source}: expected JSON lines with "kind":"Event", as the ambassador writes to --audit-log-path ` +
        `(or to stdout, next to its own log); was it run with --audit-level None?\n`,
    );
    return EXIT_NO_EVENTS;
  }
  out.write(renderLearnedPolicy(summary, learnRules(summary, podNamespace), source));
  if (summary.malformedLines > 0) err.write(`${source}: skipped ${summary.malformedLines} malformed line(s); the policy's header lists the first\n`);
  return EXIT_PRINTED;
}
