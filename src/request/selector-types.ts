/** The parsed forms of label and field selectors, and Go's string order, shared by their parsers. */
import type { Result } from '../config/result.ts';

/** The selection.Operator values a label selector can hold. */
export type LabelOperator = 'in' | 'notin' | '=' | '==' | '!=' | 'exists' | '!' | 'gt' | 'lt';

export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  /** Sorted, without duplicates (a Go sets.String); one for `=`, `==`, `!=`, `gt`, `lt`; none for `exists`, `!`. */
  readonly values: readonly string[];
}

/** `==` reads as `=`: Go's fields hasTerm does not keep the spelling. */
export type FieldOperator = '=' | '!=';

export interface FieldRequirement {
  readonly field: string;
  readonly operator: FieldOperator;
  /** The value after fields.UnescapeValue. */
  readonly value: string;
}

export type SelectorParse<Requirement> = Result<readonly Requirement[]>;

/**
 * Go's string order, which is UTF-8 byte order, which is code point order. UTF-16 differs only
 * in putting U+E000-U+FFFF after the surrogates that encode everything above U+FFFF.
 */
export function compareUtf8(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return utf8Rank(x) - utf8Rank(y);
  }
  return a.length - b.length;
}

function utf8Rank(unit: number): number {
  return unit >= 0xd800 && unit <= 0xdfff ? unit + 0x10000 : unit;
}
