/**
 * What can fail, as one shape: a value, or a problem a person can act on. `P` is a message by
 * default; a list of messages where every problem is reported at once; a structured problem where
 * the caller answers with more than a message (a status code, the attributes it read).
 */
export type Result<T, P = string> = Success<T> | Failure<P>;

export interface Success<T> {
  readonly ok: true;
  readonly value: T;
}

export interface Failure<P> {
  readonly ok: false;
  readonly problem: P;
}

export function success<T>(value: T): Success<T> {
  return { ok: true, value };
}

export function failure<P>(problem: P): Failure<P> {
  return { ok: false, problem };
}
