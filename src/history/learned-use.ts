/**
 * What a learner has seen, in the terms a policy decides on: the resources and non-resource URLs
 * used with their verbs, and the requests it did not learn with why. Shared by the learner of the
 * ambassador's audit log (learn.ts) and of kube-apiserver's (apiserver-learn.ts).
 */
import type { RequestAttributes } from '../request/attributes.ts';
import { compilePolicy } from '../policy/compile.ts';
import { describeRequest } from '../policy/policy.ts';

/** Resources with the verbs used on them, counted per (namespace, API group, resource[/subresource]). */
export interface ResourceUse {
  readonly namespace: string;
  readonly apiGroup: string;
  readonly resource: string;
  readonly verbs: Set<string>;
  requests: number;
}

export interface UrlUse {
  readonly url: string;
  readonly verbs: Set<string>;
  requests: number;
}

/** Requests seen but not learned, by description: how many, and the first reason given. */
export interface Unlearned {
  count: number;
  readonly reason: string;
}

const WILDCARD = '*';

export class LearnedUse {
  readonly denied = new Map<string, Unlearned>();
  readonly inexpressible = new Map<string, Unlearned>();
  readonly resources = new Map<string, ResourceUse>();
  readonly urls = new Map<string, UrlUse>();
  /** Why a target cannot be written in a policy ('' when it can), so each is checked once. */
  readonly #targetProblems = new Map<string, string>();

  /** Records a request a policy must allow for all of `verbs`; false when no rule can allow only it. */
  allow(attributes: RequestAttributes, verbs: readonly string[]): boolean {
    const problem = this.#targetProblem(attributes);
    if (problem !== '') {
      tally(this.inexpressible, describeTarget(attributes), problem);
      return false;
    }
    if (attributes.isResourceRequest) {
      const { namespace, apiGroup } = attributes;
      const resource = resourceOf(attributes);
      const key = JSON.stringify([namespace, apiGroup, resource]);
      const use = this.resources.get(key) ?? { namespace, apiGroup, resource, verbs: new Set<string>(), requests: 0 };
      this.resources.set(key, use);
      recordUse(use, verbs);
    } else {
      const use = this.urls.get(attributes.path) ?? { url: attributes.path, verbs: new Set<string>(), requests: 0 };
      this.urls.set(attributes.path, use);
      recordUse(use, verbs);
    }
    return true;
  }

  deny(attributes: RequestAttributes, reason: string): void {
    tally(this.denied, describeTarget(attributes), reason);
  }

  #targetProblem(attributes: RequestAttributes): string {
    const { verb, apiGroup, namespace, path } = attributes;
    const key = JSON.stringify(
      attributes.isResourceRequest ? [verb, apiGroup, resourceOf(attributes), namespace] : [verb, path],
    );
    let problem = this.#targetProblems.get(key);
    if (problem === undefined) {
      problem = whyInexpressible(attributes) ?? '';
      this.#targetProblems.set(key, problem);
    }
    return problem;
  }
}

/** A request as a policy sees it: without its name, which is never learned. */
export function describeTarget(attributes: RequestAttributes): string {
  return describeRequest({ ...attributes, name: '' });
}

export function tally(unlearned: Map<string, Unlearned>, description: string, reason: string): void {
  const seen = unlearned.get(description);
  if (seen === undefined) unlearned.set(description, { count: 1, reason });
  else seen.count++;
}

function recordUse(use: { verbs: Set<string>; requests: number }, verbs: readonly string[]): void {
  for (const verb of verbs) use.verbs.add(verb);
  use.requests++;
}

export function resourceOf(attributes: RequestAttributes): string {
  return attributes.subresource === '' ? attributes.resource : `${attributes.resource}/${attributes.subresource}`;
}

/**
 * Why a request cannot be allowed by a rule that allows only it, or undefined. A `*` in a request
 * (say GET /api/v1/namespaces/x/*) would be read back as a wildcard; names the API server refuses
 * anyway (a namespace "Team_A") do not validate.
 */
function whyInexpressible(attributes: RequestAttributes): string | undefined {
  const values = [
    attributes.verb,
    attributes.apiGroup,
    attributes.resource,
    attributes.subresource,
    attributes.namespace,
    attributes.path,
  ];
  if (values.some((value) => value.includes(WILDCARD)))
    return 'a "*" in a policy is a wildcard, so no rule allows only this request';
  const rule = attributes.isResourceRequest
    ? {
        verbs: [attributes.verb],
        apiGroups: [attributes.apiGroup],
        resources: [resourceOf(attributes)],
        namespaces: [attributes.namespace],
      }
    : { verbs: [attributes.verb], nonResourceURLs: [attributes.path] };
  const compiled = compilePolicy({ rules: [rule] }, 'the learned rule', undefined);
  return compiled.ok ? undefined : compiled.problem.join('; ').replaceAll('rules[0].', '');
}
