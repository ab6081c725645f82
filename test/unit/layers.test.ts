/**
 * The layers of src/, read from its imports: every import goes down a layer or stays in its
 * folder, and no files import each other in a cycle. docs/architecture.md draws the same layers.
 */
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { LAYERS } from '../support/layers.ts';
import { sourceFiles } from '../support/source-files.ts';

const SRC = new URL('../../src/', import.meta.url).pathname;

/**
 * The relative modules a file imports, as TypeScript reads them: `import … from`, `export … from`,
 * side-effect `import '…'`, `import type`, and dynamic `import('…')`.
 */
export function relativeImports(text: string): string[] {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((file) => file.fileName)
    .filter((name) => name.startsWith('./') || name.startsWith('../'));
}

/** `src`-relative path → the `src`-relative paths it imports. */
export function importGraph(root: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(root)) {
    const imports = relativeImports(readFileSync(file, 'utf8')).map((name) =>
      relative(root, resolve(dirname(file), name)),
    );
    graph.set(relative(root, file), imports);
  }
  return graph;
}

function folderOf(path: string): string {
  return path.includes('/') ? (path.split('/')[0] ?? '.') : '.';
}

/** Imports that go up a layer or sideways between folders of one layer, as `from → to`. */
export function layerViolations(
  graph: ReadonlyMap<string, readonly string[]>,
  layers: Readonly<Record<string, number>>,
): string[] {
  const violations: string[] = [];
  for (const [from, imports] of graph) {
    const fromFolder = folderOf(from);
    for (const to of imports) {
      const toFolder = folderOf(to);
      if (fromFolder === toFolder) continue;
      const fromLayer = layers[fromFolder];
      const toLayer = layers[toFolder];
      if (fromLayer === undefined || toLayer === undefined || toLayer >= fromLayer) violations.push(`${from} → ${to}`);
    }
  }
  return violations;
}

/** Every cycle of file imports, each as the files around it. */
export function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') cycles.push(stack.slice(stack.indexOf(next)));
      else if (state.get(next) === undefined && graph.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (state.get(file) === undefined) visit(file);
  return cycles;
}

describe('the layers of src/', () => {
  const graph = importGraph(SRC);

  it('knows every folder', () => {
    expect([...new Set([...graph.keys()].map(folderOf))].filter((folder) => LAYERS[folder] === undefined)).toEqual([]);
  });

  it('imports only downwards: config → request → cluster → policy, audit, metrics, tracing → proxy → server → app → history → cli → main', () => {
    expect(layerViolations(graph, LAYERS)).toEqual([]);
  });

  it('has no import cycles between files', () => {
    expect(importCycles(graph)).toEqual([]);
  });

  it('reads every form of import', () => {
    const text = [
      "import { a } from './a.ts';",
      "import type { B } from '../b.ts';",
      "import '../c.ts';",
      "export { d } from './d.ts';",
      "const e = await import('../e.ts');",
      "import { pino } from 'pino';",
    ].join('\n');
    expect(relativeImports(text)).toEqual(['./a.ts', '../b.ts', '../c.ts', './d.ts', '../e.ts']);
  });

  it('would catch an upward import, a sideways one and a cycle', () => {
    const bad = new Map([
      ['config/options.ts', ['proxy/status.ts']],
      ['audit/event.ts', ['policy/policy.ts']],
      ['proxy/a.ts', ['proxy/b.ts']],
      ['proxy/b.ts', ['proxy/a.ts']],
    ]);
    expect(layerViolations(bad, LAYERS)).toEqual([
      'config/options.ts → proxy/status.ts',
      'audit/event.ts → policy/policy.ts',
    ]);
    expect(importCycles(bad)).toEqual([['proxy/a.ts', 'proxy/b.ts']]);
  });
});
