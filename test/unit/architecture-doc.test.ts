/**
 * docs/architecture.md (the README's layout) matches the tree: its Files block names every file of
 * each src/ folder and names no file that is not there, and its Layers table has each folder the
 * layer test knows, at the same layer.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LAYERS } from '../support/layers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const DOC = readFileSync(`${ROOT}docs/architecture.md`, 'utf8');
const FILE_NAME = /\b[\w-]+\.ts\b/g;

/** Folder (`proxy`) → the `.ts` names its entry of the Files block mentions. */
export function filesBlockEntries(doc: string): Map<string, Set<string>> {
  const block = /## Files\n\n```\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
  const entries = new Map<string, Set<string>>();
  let current: Set<string> | undefined;
  for (const line of block.split('\n')) {
    const start = /^src\/(\w+)\/\s/.exec(line);
    if (start?.[1] !== undefined) {
      current = new Set<string>();
      entries.set(start[1], current);
    } else if (!line.startsWith(' ')) current = undefined;
    for (const name of line.matchAll(FILE_NAME)) current?.add(name[0]);
  }
  return entries;
}

/** Folder → layer, from the Layers table's rows (`| 4 | \`proxy/\` | …`, several folders in a row). */
export function layersTable(doc: string): Map<string, number> {
  const layers = new Map<string, number>();
  for (const row of doc.matchAll(/^\| (\d+) \| ([^|]+) \|/gm)) {
    for (const folder of (row[2] ?? '').matchAll(/`(\w+)\/`/g)) layers.set(folder[1] ?? '', Number(row[1]));
  }
  return layers;
}

describe('docs/architecture.md', () => {
  const entries = filesBlockEntries(DOC);
  const folders = readdirSync(`${ROOT}src`, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();

  it('has an entry in its Files block for every folder of src/, and no other', () => {
    expect([...entries.keys()].sort()).toEqual(folders);
  });

  it.each(folders)('names every file of src/%s/ and no file that is not there', (folder) => {
    const files = readdirSync(`${ROOT}src/${folder}`).filter((name) => name.endsWith('.ts'));
    expect([...(entries.get(folder) ?? [])].sort()).toEqual(files.sort());
  });

  it('puts each folder at the layer the layer test checks', () => {
    const documented = layersTable(DOC);
    const expected = new Map(Object.entries(LAYERS).filter(([folder]) => folder !== '.'));
    expect(new Map([...documented].sort())).toEqual(new Map([...expected].sort()));
  });
});

describe('filesBlockEntries', () => {
  it('reads entries and their continuation lines, and stops at the next top-level line', () => {
    const doc = '## Files\n\n```\nsrc/a/   one (x.ts), two\n         (y.ts)\ntest/    z.ts\nsrc/b/   w.ts\n```\n';
    expect(filesBlockEntries(doc)).toEqual(
      new Map([
        ['a', new Set(['x.ts', 'y.ts'])],
        ['b', new Set(['w.ts'])],
      ]),
    );
  });
});
