/**
 * The size limits of src/ (CONTRIBUTING.md): no file over 400 lines, and no function over 60 lines
 * unless the comment just above it starts with `Long because` and says why it must be one piece.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { sourceFiles } from '../support/source-files.ts';

const SRC = new URL('../../src/', import.meta.url).pathname;
const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 60;
const WHY = /Long because\b/;

function lineCount(text: string): number {
  return text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
}

/** `file:line name (N lines)` for each function over the limit without a `Long because` comment above it. */
export function longFunctions(fileName: string, text: string, maxLines: number): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = last - first + 1;
      const explained = WHY.test(holderComments(node, text));
      if (lines > maxLines && !explained)
        found.push(`${fileName}:${first + 1} ${nameOf(node, source)} (${lines} lines)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The comments before a function, or before the statement that holds it (`const f = () => …`). */
function holderComments(node: ts.Node, text: string): string {
  let holder: ts.Node = node;
  while (!ts.isSourceFile(holder.parent) && !ts.isClassLike(holder.parent) && !ts.isBlock(holder.parent))
    holder = holder.parent;
  const ranges = ts.getLeadingCommentRanges(text, holder.getFullStart()) ?? [];
  return ranges.map((range) => text.slice(range.pos, range.end)).join('\n');
}

function nameOf(node: ts.SignatureDeclaration, source: ts.SourceFile): string {
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  return node.name?.getText(source) ?? '(anonymous)';
}

describe('the size limits of src/', () => {
  const files = sourceFiles(SRC).map((file) => ({ name: relative(SRC, file), text: readFileSync(file, 'utf8') }));

  it(`has no file over ${MAX_FILE_LINES} lines`, () => {
    const long = files.filter((file) => lineCount(file.text) > MAX_FILE_LINES);
    expect(long.map((file) => `${file.name} (${lineCount(file.text)} lines)`)).toEqual([]);
  });

  it(`has no function over ${MAX_FUNCTION_LINES} lines without a "Long because" comment`, () => {
    expect(files.flatMap((file) => longFunctions(file.name, file.text, MAX_FUNCTION_LINES))).toEqual([]);
  });
});

describe('longFunctions', () => {
  const body = (lines: number): string => Array.from({ length: lines - 2 }, (_, i) => `  call(${i});`).join('\n');
  const cases: [string, string, number][] = [
    ['a short function', `function f() {\n${body(60)}\n}\n`, 0],
    ['a long function', `function f() {\n${body(61)}\n}\n`, 1],
    ['a long function explained', `// Long because it is one switch.\nfunction f() {\n${body(61)}\n}\n`, 0],
    ['a long method', `class C {\n  m() {\n${body(61)}\n  }\n}\n`, 1],
    [
      'a long arrow in a const, explained',
      `/** Long because it is a table. */\nconst f = () => {\n${body(61)}\n};\n`,
      0,
    ],
    ['a long arrow passed to a call', `run(() => {\n${body(61)}\n});\n`, 1],
  ];
  it.each(cases)('%s', (_, text, count) => {
    expect(longFunctions('x.ts', text, MAX_FUNCTION_LINES)).toHaveLength(count);
  });
});
