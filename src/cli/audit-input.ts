/** What `policy learn` and `policy replay` share: reading an audit log, and choosing its user. */
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { RecordedLogSummary } from '../history/recorded-log.ts';
import { failure, success, type Result } from '../config/result.ts';

export const STDIN = '-';
export const EXIT_NO_EVENTS = 1;
export const EXIT_USAGE = 2;
const USERS_SHOWN = 10;
const SERVICE_ACCOUNT = /^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):[^:]+$/;

/** Feeds each line of the file (or stdin for `-`) to `onLine`, streaming; the error's message if it cannot be read. */
export async function readLines(
  input: string,
  stdin: Readable,
  onLine: (line: string) => void,
): Promise<string | undefined> {
  try {
    const file = input === STDIN ? undefined : await open(input);
    const lines = createInterface({
      input: file?.createReadStream({ encoding: 'utf8' }) ?? stdin,
      crlfDelay: Infinity,
    });
    for await (const line of lines) onLine(line);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

export function sourceName(input: string): string {
  return input === STDIN ? 'stdin' : input;
}

/** The namespace of a service account's user name, `system:serviceaccount:NS:NAME`. */
export function serviceAccountNamespace(user: string | undefined): string | undefined {
  return user === undefined ? undefined : SERVICE_ACCOUNT.exec(user)?.[1];
}

/** Why no user can be chosen: the message for stderr and the exit code. */
export interface UserRefusal {
  readonly exit: number;
  readonly message: string;
}

/** The user chosen (`''` for the ambassador's own log), or why none can be. */
export type UserChoice = Result<string, UserRefusal>;

/** The user whose requests were read: `--user`, or the log's only one. */
export function chooseUser(log: RecordedLogSummary, user: string | undefined, source: string): UserChoice {
  if (log.format === 'ambassador') {
    if (user === undefined) return success('');
    return refusal(
      EXIT_USAGE,
      `--user chooses a user in kube-apiserver's audit log; ${source} is the ambassador's, which holds only its own pod's requests\n`,
    );
  }
  if (user !== undefined) {
    if (log.requests > 0) return success(user);
    return refusal(EXIT_NO_EVENTS, `no requests of ${user} in ${source}${usersSeen(log)}\n`);
  }
  const [only] = log.users.keys();
  if (log.users.size === 1 && only !== undefined) return success(only);
  if (log.users.size === 0)
    return refusal(
      EXIT_NO_EVENTS,
      `no requests at their last stage (ResponseComplete, Panic or ResponseStarted) in ${source}\n`,
    );
  return refusal(
    EXIT_USAGE,
    `${source} holds the requests of ${log.users.size} users: choose one with --user${usersSeen(log)}\n`,
  );
}

function refusal(exit: number, message: string): UserChoice {
  return failure({ exit, message });
}

function usersSeen(log: RecordedLogSummary): string {
  if (log.users.size === 0) return '';
  const users = [...log.users].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const shown = users
    .slice(0, USERS_SHOWN)
    .map(
      ([name, requests]) => `  ${name === '' ? '(no user)' : name}: ${requests} request${requests === 1 ? '' : 's'}`,
    );
  if (users.length > USERS_SHOWN) shown.push(`  … and ${users.length - USERS_SHOWN} more`);
  return `; the users it holds:\n${shown.join('\n')}`;
}
