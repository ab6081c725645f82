/**
 * Asks the API server, with the ambassador's own credentials, who it is (SelfSubjectReview) and
 * what RBAC lets it do in each namespace (SelfSubjectRulesReview), then logs what rbac-check.ts
 * makes of the policy. Advisory only: any failure is one warning, and nothing waits for it.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { UserInfo } from '../cluster/credentials.ts';
import { fieldOf } from '../config/document.ts';
import type { Policy } from './policy.ts';
import { compareWithRbac, namespacesToReview } from './rbac-check.ts';
import type { RbacNonResourceRule, RbacResourceRule, RulesReview } from './rbac-rules.ts';

/** The part of Upstream used here: it adds Host and credentials. */
export interface ReviewUpstream {
  request(method: string, pathAndQuery: string, headers: string[]): ClientRequest;
}

export interface RbacReview {
  readonly username: string;
  /** By namespace. */
  readonly reviews: ReadonlyMap<string, RulesReview>;
}

const SELF_SUBJECT_REVIEWS = '/apis/authentication.k8s.io/v1/selfsubjectreviews';
const RULES_REVIEWS = '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews';
const REVIEW_TIMEOUT_MS = 10_000;
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/**
 * Who the API server takes the ambassador's credentials to be (a SelfSubjectReview); undefined when
 * it names nobody. Rejects with a readable reason if the review cannot be made.
 */
export async function reviewSelf(
  upstream: ReviewUpstream,
  timeoutMs = REVIEW_TIMEOUT_MS,
): Promise<UserInfo | undefined> {
  return userInfoOf(
    await postJson(
      upstream,
      SELF_SUBJECT_REVIEWS,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      timeoutMs,
    ),
  );
}

/** Makes the reviews (in parallel); rejects with a readable reason if any of them cannot be made. */
export async function reviewRbac(
  upstream: ReviewUpstream,
  namespaces: readonly string[],
  self: Promise<UserInfo | undefined> = reviewSelf(upstream),
  timeoutMs = REVIEW_TIMEOUT_MS,
): Promise<RbacReview> {
  const rules = namespaces.map((namespace) =>
    postJson(
      upstream,
      RULES_REVIEWS,
      { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace } },
      timeoutMs,
    ),
  );
  const [user, ...rulesAnswers] = await Promise.all([self, ...rules]);
  return {
    username: user?.username ?? 'an unnamed user',
    reviews: new Map(namespaces.map((namespace, index) => [namespace, parseRulesReview(rulesAnswers[index])])),
  };
}

/**
 * Reviews RBAC and logs who the ambassador acts as and every warning. Never rejects for a failed
 * review. `self` is a SelfSubjectReview already under way, to share.
 */
export async function checkPolicyAgainstRbac(
  policy: Policy,
  upstream: ReviewUpstream,
  podNamespace: string | undefined,
  log: Logger,
  self?: Promise<UserInfo | undefined>,
): Promise<void> {
  const namespaces = namespacesToReview(policy, podNamespace);
  let review: RbacReview;
  try {
    review = await reviewRbac(upstream, namespaces, self);
  } catch (error) {
    log.warn({ policy: policy.source }, `cannot check the policy against RBAC: ${(error as Error).message}`);
    return;
  }
  log.info({ user: review.username }, `acting as ${review.username}`);
  const warnings = compareWithRbac(policy, review.reviews, podNamespace);
  for (const warning of warnings) log.warn({ policy: policy.source }, warning);
  if (warnings.length === 0)
    log.info({ policy: policy.source, namespaces }, "the policy agrees with the service account's RBAC");
}

function postJson(upstream: ReviewUpstream, path: string, body: object, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const headers = [
      'content-type',
      'application/json',
      'accept',
      'application/json',
      'content-length',
      String(Buffer.byteLength(payload)),
    ];
    const request = upstream.request('POST', path, headers);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      request.destroy();
    }, timeoutMs);
    const fail = (error: NodeJS.ErrnoException, answered: boolean) => {
      clearTimeout(timer);
      if (timedOut) reject(new Error(`POST ${path}: no answer within ${timeoutMs / 1000}s`));
      else
        reject(
          answered ? error : new Error(`POST ${path}: cannot reach the API server: ${error.code ?? error.message}`),
        );
    };
    request.on('response', (response) => {
      readAnswer(response, path).then(
        (answer) => {
          clearTimeout(timer);
          resolve(answer);
        },
        (error: unknown) => fail(error as Error, true),
      );
    });
    request.on('error', (error) => fail(error, false));
    request.end(payload);
  });
}

/** The answer's JSON; an error with the Status message for anything but a 2xx. */
async function readAnswer(response: IncomingMessage, path: string): Promise<unknown> {
  const text = await readText(response, path);
  const code = response.statusCode ?? 0;
  if (code < 200 || code > 299) {
    const message = statusMessage(text);
    throw new Error(
      `POST ${path} answered ${code} ${response.statusMessage ?? ''}`.trimEnd() +
        (message === undefined ? '' : `: ${message}`),
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`POST ${path}: the answer is not JSON`);
  }
}

async function readText(response: IncomingMessage, path: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response) {
      size += (chunk as Buffer).length;
      if (size > MAX_ANSWER_BYTES) break;
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    throw new Error(`POST ${path}: the answer was cut off: ${(error as Error).message}`, { cause: error });
  }
  if (size > MAX_ANSWER_BYTES) throw new Error(`POST ${path}: the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
  return Buffer.concat(chunks).toString('utf8');
}

function statusMessage(text: string): string | undefined {
  try {
    const message = fieldOf(JSON.parse(text), 'message');
    return typeof message === 'string' && message !== '' ? message : undefined;
  } catch {
    return undefined;
  }
}

/** `status.userInfo` of a SelfSubjectReview, as the audit `user` is written: username, uid, groups. */
export function userInfoOf(answer: unknown): UserInfo | undefined {
  const userInfo = fieldOf(fieldOf(answer, 'status'), 'userInfo');
  const username = fieldOf(userInfo, 'username');
  if (typeof username !== 'string' || username === '') return undefined;
  const uid = fieldOf(userInfo, 'uid');
  const groups = strings(fieldOf(userInfo, 'groups'));
  return {
    username,
    ...(typeof uid === 'string' && uid !== '' ? { uid } : {}),
    ...(groups.length > 0 ? { groups } : {}),
  };
}

function parseRulesReview(answer: unknown): RulesReview {
  const status = fieldOf(answer, 'status');
  const evaluationError = fieldOf(status, 'evaluationError');
  return {
    resourceRules: list(fieldOf(status, 'resourceRules')).map((rule): RbacResourceRule => ({
      verbs: strings(fieldOf(rule, 'verbs')),
      apiGroups: strings(fieldOf(rule, 'apiGroups')),
      resources: strings(fieldOf(rule, 'resources')),
      resourceNames: strings(fieldOf(rule, 'resourceNames')),
    })),
    nonResourceRules: list(fieldOf(status, 'nonResourceRules')).map((rule): RbacNonResourceRule => ({
      verbs: strings(fieldOf(rule, 'verbs')),
      nonResourceURLs: strings(fieldOf(rule, 'nonResourceURLs')),
    })),
    incomplete: fieldOf(status, 'incomplete') === true,
    ...(typeof evaluationError === 'string' && evaluationError !== '' ? { evaluationError } : {}),
  };
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function strings(value: unknown): string[] {
  return list(value).filter((item): item is string => typeof item === 'string');
}
