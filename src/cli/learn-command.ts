/**
 * `kube-api-ambassador policy learn [--pod-namespace NS] [--user USER] AUDIT_LOG`: reads an audit
 * log (a file, or `-` for stdin), the ambassador's or kube-apiserver's, told apart by its events,
 * and prints the smallest policy that allows every request in it. Exit codes: 0 printed, 1 no
 * audit events (or none of USER) in the input, 2 usage, unreadable input, or a log of several
 * users without --user.
 */
import type { Readable, Writable } from 'node:stream';
import { isNamespaceName } from '../config/document.ts';
import type { RecordedEvent } from '../history/apiserver-event.ts';
import { logFormatOfLine, RecordedLog, type LogFormat } from '../history/recorded-log.ts';
import { ApiServerLearner, renderApiServerPolicy } from '../history/apiserver-learn.ts';
import { AuditLogReader, learnRules, renderLearnedPolicy } from '../history/learn.ts';
import {
  chooseUser,
  EXIT_NO_EVENTS,
  EXIT_USAGE,
  readLines,
  serviceAccountNamespace,
  sourceName,
} from './audit-input.ts';

const EXIT_PRINTED = 0;
/** Lines read to find the first audit event, which tells the log's format; the ambassador's after that. */
const FORMAT_LINES = 1000;

export const LEARN_USAGE = `Usage: kube-api-ambassador policy learn [--pod-namespace NS] [--user USER] AUDIT_LOG
  e.g. kube-api-ambassador policy learn --pod-namespace team-a audit.log > policy.yaml
       kube-api-ambassador policy learn --user system:serviceaccount:team-a:analytics apiserver-audit.log > policy.yaml
Prints, as YAML, the smallest policy that allows every request in AUDIT_LOG (- reads stdin): one rule
per set of verbs, API groups, resources and namespaces used together. Requests in the namespace NS
are written as $(POD_NAMESPACE). resourceNames are never learned: each rule covers every object of
its resources. AUDIT_LOG is either
  the ambassador's (--audit-log-path, or its stdout): learned are the decisions allow, would_deny
    (--policy-mode log) and throttled; listed in the header but not learned: deny; counted: invalid.
  kube-apiserver's (audit.k8s.io/v1 Events as JSON lines, or a webhook's EventList batches, one a
    line): learned are USER's requests the API server allowed, resolved from requestURI as the
    ambassador resolves live requests; listed but not learned: those it forbade, those made with
    Impersonate-User. --user is required when the log holds several users; NS defaults to the
    namespace of a service account USER (system:serviceaccount:NS:NAME).
Exit code 0 printed, 1 no audit events (or none of USER), 2 usage, unreadable input or no --user.
`;

interface Learner {
  read(line: string): void;
  /** The policy, or why there is none. */
  finish(out: Writable, err: Writable): number;
}

export async function runLearnCommand(
  input: string,
  podNamespace: string | undefined,
  user: string | undefined,
  stdin: Readable,
  out: Writable,
  err: Writable,
): Promise<number> {
  if (podNamespace !== undefined && !isNamespaceName(podNamespace)) {
    err.write(`--pod-namespace: ${JSON.stringify(podNamespace)} is not a namespace name\n${LEARN_USAGE}`);
    return EXIT_USAGE;
  }
  const source = sourceName(input);
  const pending: string[] = [];
  let learner: Learner | undefined;
  const problem = await readLines(input, stdin, (line) => {
    if (learner !== undefined) {
      learner.read(line);
      return;
    }
    pending.push(line);
    const format = logFormatOfLine(line);
    if (format === undefined && pending.length < FORMAT_LINES) return;
    learner = learnerFor(format ?? 'ambassador', podNamespace, user, source);
    for (const seen of pending.splice(0)) learner.read(seen);
  });
  if (problem !== undefined) {
    err.write(`cannot read ${source}: ${problem}\n`);
    return EXIT_USAGE;
  }
  if (learner === undefined) {
    learner = learnerFor('ambassador', podNamespace, user, source);
    for (const seen of pending) learner.read(seen);
  }
  return learner.finish(out, err);
}

function learnerFor(
  format: LogFormat,
  podNamespace: string | undefined,
  user: string | undefined,
  source: string,
): Learner {
  return format === 'ambassador'
    ? ambassadorLearner(podNamespace, user, source)
    : apiServerLearner(podNamespace, user, source);
}

function ambassadorLearner(podNamespace: string | undefined, user: string | undefined, source: string): Learner {
  const reader = new AuditLogReader();
  return {
    read: (line) => reader.read(line),
    finish(out, err) {
      const summary = reader.finish();
      if (summary.events === 0) {
        err.write(
          `no audit events in ${source}: expected JSON lines with "kind":"Event", as the ambassador writes to --audit-log-path ` +
            `(or to stdout, next to its own log), or as kube-apiserver writes with --audit-log-path; was the ambassador run with --audit-level None?\n`,
        );
        return EXIT_NO_EVENTS;
      }
      if (user !== undefined) {
        err.write(
          `--user chooses a user in kube-apiserver's audit log; ${source} is the ambassador's, which holds only its own pod's requests\n`,
        );
        return EXIT_USAGE;
      }
      out.write(renderLearnedPolicy(summary, learnRules(summary, podNamespace), source));
      if (summary.malformedLines > 0)
        err.write(
          `${source}: skipped ${summary.malformedLines} malformed line(s); the policy's header lists the first\n`,
        );
      return EXIT_PRINTED;
    },
  };
}

function apiServerLearner(podNamespace: string | undefined, user: string | undefined, source: string): Learner {
  const learner = new ApiServerLearner();
  const log = new RecordedLog((event: RecordedEvent) => learner.learn(event), user);
  return {
    read: (line) => log.read(line),
    finish(out, err) {
      const summary = log.finish();
      const chosen = chooseUser(summary, user, source);
      if (!chosen.ok) {
        err.write(chosen.problem.message);
        return chosen.problem.exit;
      }
      const namespace = podNamespace ?? serviceAccountNamespace(chosen.value);
      out.write(renderApiServerPolicy(summary, learner.finish(), chosen.value, namespace, source));
      if (summary.malformedLines > 0)
        err.write(
          `${source}: skipped ${summary.malformedLines} malformed line(s); the policy's header lists the first\n`,
        );
      return EXIT_PRINTED;
    },
  };
}
