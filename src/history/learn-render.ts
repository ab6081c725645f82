/** A learned policy as YAML a person reviews: a header of comments, then the rules. */
import type { Unlearned } from './learned-use.ts';

export interface LearnedResourceRule {
  readonly verbs: readonly string[];
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly namespaces: readonly string[];
  /** How many requests of the log the rule allows. */
  readonly requests: number;
}

export interface LearnedUrlRule {
  readonly verbs: readonly string[];
  readonly nonResourceURLs: readonly string[];
  readonly requests: number;
}

export type LearnedRule = LearnedResourceRule | LearnedUrlRule;

export function renderPolicyYaml(header: readonly string[], rules: readonly LearnedRule[]): string {
  const lines = header.map(comment);
  if (rules.length === 0) {
    lines.push('rules: []');
  } else {
    lines.push('rules:');
    for (const rule of rules) lines.push(...renderRule(rule));
  }
  return `${lines.join('\n')}\n`;
}

/** The header's list of requests not learned, a line each. */
export function unlearnedLines(unlearned: ReadonlyMap<string, Readonly<Unlearned>>): string[] {
  return [...unlearned].map(([description, { count, reason }]) => `  ${count} × ${description}: ${reason}`);
}

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** A comment line; line breaks in logged text (a reason, say) must not end the comment. */
function comment(text: string): string {
  return text === '' ? '#' : `# ${text.replace(/[\r\n\u0085\u2028\u2029]/g, ' ')}`;
}

function renderRule(rule: LearnedRule): string[] {
  const lines = [`  ${comment(plural(rule.requests, 'request'))}`, `  - verbs: ${flowList(rule.verbs)}`];
  if ('nonResourceURLs' in rule) {
    lines.push(`    nonResourceURLs: ${flowList(rule.nonResourceURLs)}`);
  } else {
    lines.push(
      `    apiGroups: ${flowList(rule.apiGroups)}`,
      `    resources: ${flowList(rule.resources)}`,
      `    namespaces: ${flowList(rule.namespaces)}`,
    );
  }
  return lines;
}

function flowList(values: readonly string[]): string {
  return `[${values.map(scalar).join(', ')}]`;
}

const PLAIN = /^(?:[A-Za-z][A-Za-z0-9._/-]*|\/[A-Za-z0-9._/~-]*)$/;
/** Words YAML 1.1 or 1.2 read as booleans or null. */
const RESERVED = /^(?:true|false|yes|no|on|off|y|n|null)$/i;

/** Plain when YAML reads it back as the same string, else double-quoted (JSON strings are YAML). */
function scalar(value: string): string {
  return PLAIN.test(value) && !RESERVED.test(value) ? value : JSON.stringify(value);
}
