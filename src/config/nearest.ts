/**
 * "Did you mean": the known name nearest a misspelt one, for unknown flags, environment variables,
 * policy fields and verbs.
 */

/**
 * Edits between two words: insertions, deletions, substitutions, and swaps of two neighbours
 * (`lsit` → `list` is one edit): the optimal string alignment distance.
 */
export function editDistance(a: string, b: string): number {
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, (beforePrevious[j - 2] ?? 0) + 1);
      current.push(best);
    }
    beforePrevious = previous;
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** At most one edit in four letters, and never more than three: `ge` is not a misspelling of `tty`. */
function maxEdits(word: string): number {
  return Math.min(3, Math.max(1, Math.floor(word.length / 4)));
}

/** The candidate closest to `word` (the first of equals), if one is close enough to be a misspelling of it. */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  const limit = maxEdits(word);
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** `, did you mean --port?` or nothing: `render` spells the suggestion as the user would type it. */
export function didYouMean(
  word: string,
  candidates: Iterable<string>,
  render: (name: string) => string = (name) => name,
): string {
  const suggestion = nearest(word, candidates);
  return suggestion === undefined ? '' : `, did you mean ${render(suggestion)}?`;
}
