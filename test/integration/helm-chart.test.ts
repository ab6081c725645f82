/**
 * charts/: the kube-api-ambassador library chart and the example chart that uses it, checked
 * without a helm binary (none can be installed here). Checked: Chart.yaml and values.yaml, the
 * values against values.schema.json (ajv, which kubernetes-models already brings in), every
 * `.Values` reference against values.yaml both ways, the templates' structure, and a render by a
 * small renderer for exactly the Go-template subset the templates use (it refuses anything else),
 * whose objects are validated like deploy-manifests.test.ts validates the manifests and compared
 * with manifests/base and manifests/legacy-sidecar so the chart and the manifests cannot drift.
 * Not checked: what real Helm renders (sprig's exact output, Helm's value merging and schema
 * validation are imitated here, not run).
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import { dump, load, loadAll } from 'js-yaml';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseOptions } from '../../src/config/options.ts';
import { configMapFile, container, find, podSpec, schemaProblems, type KubeObject } from '../support/kubernetes-schemas.ts';

const execFileAsync = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const LIBRARY_DIR = join(root, 'charts/kube-api-ambassador');
const EXAMPLE_DIR = join(root, 'charts/example');
/** The dependency alias the library's templates read their values under (.Values.kubeApiAmbassador). */
const ALIAS = 'kubeApiAmbassador';
const SIDECAR = 'kube-api-ambassador';
const APP = 'analytics';
const RELEASE = { Name: APP, Namespace: APP, Service: 'Helm' };

type Values = Record<string, unknown>;


function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// --- the Go-template subset -------------------------------------------------------------------
// Text, {{ pipeline }} output, if/else/end, define/end, comments and the {{- -}} trim markers;
// operands: "strings", integers, true/false, `.` and `.Field.Paths` (a path ending at a function,
// like .Files.Get, is called); functions: include, nindent, indent, quote, toYaml.

interface TextSegment {
  readonly kind: 'text';
  text: string;
}
interface ActionSegment {
  readonly kind: 'action';
  readonly body: string;
  readonly line: number;
}
type Segment = TextSegment | ActionSegment;

type Pipeline = readonly (readonly string[])[];
type TemplateNode =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'output'; readonly pipeline: Pipeline; readonly line: number }
  | { readonly kind: 'if'; readonly condition: Pipeline; readonly then: TemplateNode[]; readonly otherwise: TemplateNode[] };

interface ParsedTemplate {
  readonly body: TemplateNode[];
  readonly defines: Map<string, TemplateNode[]>;
  /** Every action's text, comments excluded (for the .Values reference check). */
  readonly actions: readonly string[];
}

const TRIM = /^-[ \t\r\n]/;

function lineOf(source: string, offset: number): number {
  return source.slice(0, offset).split('\n').length;
}

/** The end of the action that starts at `from` (the offset of its `}}`), skipping quoted strings. */
function actionEnd(source: string, from: number, file: string): number {
  for (let position = from; position < source.length; position++) {
    if (source[position] === '"') {
      const closing = /"(?:[^"\\\n]|\\.)*"/y;
      closing.lastIndex = position;
      if (closing.exec(source) === null) throw new Error(`${file}:${lineOf(source, position)}: an unterminated string`);
      position = closing.lastIndex - 1;
    } else if (source.startsWith('}}', position)) {
      return position;
    } else if (source.startsWith('{{', position)) {
      break;
    }
  }
  throw new Error(`${file}:${lineOf(source, from)}: {{ without its }}`);
}

/** Text and actions, with Go's trim markers applied and comments dropped. */
function lex(source: string, file: string): Segment[] {
  const segments: Segment[] = [];
  let position = 0;
  let trimNext = false;
  for (;;) {
    const open = source.indexOf('{{', position);
    const raw = source.slice(position, open === -1 ? source.length : open);
    if (raw.includes('}}')) throw new Error(`${file}:${lineOf(source, position + raw.indexOf('}}'))}: }} without its {{`);
    segments.push({ kind: 'text', text: trimNext ? raw.replace(/^[ \t\r\n]+/, '') : raw });
    if (open === -1) return segments;
    let start = open + 2;
    if (TRIM.test(source.slice(start, start + 2))) {
      start += 2;
      const previous = segments.at(-1);
      if (previous?.kind === 'text') previous.text = previous.text.replace(/[ \t\r\n]+$/, '');
    }
    const content = start + (/^[ \t\r\n]*/.exec(source.slice(start))?.[0].length ?? 0);
    if (source.startsWith('/*', content)) {
      const commentEnd = source.indexOf('*/', content);
      const closing = commentEnd === -1 ? null : /^(?: -)?\}\}/.exec(source.slice(commentEnd + 2));
      if (closing === null) throw new Error(`${file}:${lineOf(source, open)}: a comment must end with */}} or */ -}}`);
      trimNext = closing[0].startsWith(' -');
      position = commentEnd + 2 + closing[0].length;
    } else {
      const close = actionEnd(source, start, file);
      const body = source.slice(start, close);
      trimNext = /[ \t\r\n]-$/.test(body);
      segments.push({ kind: 'action', body: (trimNext ? body.slice(0, -1) : body).trim(), line: lineOf(source, open) });
      position = close + 2;
    }
  }
}

function words(body: string, where: string): string[] {
  const found = body.match(/"(?:[^"\\]|\\.)*"|\||[^\s|]+/g) ?? [];
  if (found.some((word) => !word.startsWith('"') && /[()$]/.test(word))) throw new Error(`${where}: unsupported syntax in {{ ${body} }}`);
  return found;
}

function pipelineOf(list: readonly string[], where: string): Pipeline {
  const commands: string[][] = [[]];
  for (const word of list) {
    if (word === '|') commands.push([]);
    else commands.at(-1)?.push(word);
  }
  if (commands.some((command) => command.length === 0)) throw new Error(`${where}: an empty command in a pipeline`);
  return commands;
}

function parseTemplate(source: string, file: string): ParsedTemplate {
  const segments = lex(source, file);
  const defines = new Map<string, TemplateNode[]>();
  const actions = segments.flatMap((segment) => (segment.kind === 'action' ? [segment.body] : []));
  let index = 0;

  /** Nodes up to the {{ end }} or {{ else }} that closes `opener` (undefined: the file's top level). */
  function block(opener: string | undefined): { nodes: TemplateNode[]; stop: 'end' | 'else' | 'eof' } {
    const nodes: TemplateNode[] = [];
    while (index < segments.length) {
      const segment = segments[index++];
      if (segment === undefined) break;
      if (segment.kind === 'text') {
        if (segment.text !== '') nodes.push({ kind: 'text', text: segment.text });
        continue;
      }
      const where = `${file}:${segment.line}`;
      const [keyword = '', ...rest] = words(segment.body, where);
      if (keyword === 'end' || keyword === 'else') {
        if (opener === undefined) throw new Error(`${where}: {{ ${keyword} }} outside a block`);
        if (rest.length > 0) throw new Error(`${where}: unsupported {{ ${segment.body} }}`);
        return { nodes, stop: keyword };
      }
      if (keyword === 'define') {
        const name = rest[0];
        if (opener !== undefined || rest.length !== 1 || name === undefined || !name.startsWith('"')) throw new Error(`${where}: a define takes one name, at the top level`);
        const inner = block('define');
        if (inner.stop !== 'end') throw new Error(`${where}: {{ define ${name} }} without its {{ end }}`);
        defines.set(JSON.parse(name) as string, inner.nodes);
      } else if (keyword === 'if') {
        const condition = pipelineOf(rest, where);
        const then = block('if');
        let otherwise: TemplateNode[] = [];
        if (then.stop === 'else') {
          const after = block('if');
          if (after.stop !== 'end') throw new Error(`${where}: {{ if }} without its {{ end }}`);
          otherwise = after.nodes;
        } else if (then.stop !== 'end') {
          throw new Error(`${where}: {{ if }} without its {{ end }}`);
        }
        nodes.push({ kind: 'if', condition, then: then.nodes, otherwise });
      } else if (['range', 'with', 'block', 'template'].includes(keyword)) {
        throw new Error(`${where}: {{ ${keyword} }} is not supported by this renderer`);
      } else {
        nodes.push({ kind: 'output', pipeline: pipelineOf([keyword, ...rest], where), line: segment.line });
      }
    }
    if (opener !== undefined) throw new Error(`${file}: {{ ${opener} }} without its {{ end }}`);
    return { nodes, stop: 'eof' };
  }

  return { body: block(undefined).nodes, defines, actions };
}

/** Every problem with the template's delimiters and blocks; empty when it parses. */
function structureProblems(source: string, file: string): string[] {
  try {
    parseTemplate(source, file);
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

type TemplateFunction = (...args: unknown[]) => unknown;

function asNumber(value: unknown, name: string): number {
  if (typeof value !== 'number') throw new Error(`${name}: expected a number, got ${JSON.stringify(value)}`);
  return value;
}

function asString(value: unknown, name: string): string {
  if (typeof value !== 'string') throw new Error(`${name}: expected a string, got ${JSON.stringify(value)}`);
  return value;
}

/** What {{ value }} prints; Helm would print maps and nil in Go syntax, which no template here should do. */
function printed(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(`refusing to print ${JSON.stringify(value)}`);
}

/** Go's `if`: false, 0, "", nil, and empty maps and lists are false. */
function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (isRecord(value)) return Object.keys(value).length > 0;
  return value !== false && value !== 0 && value !== '' && value !== null && value !== undefined;
}

function indent(spaces: number, text: string): string {
  const pad = ' '.repeat(spaces);
  return pad + text.replaceAll('\n', `\n${pad}`);
}

/** A field path from the dot; a missing key is an error here (Helm would print "<no value>" or fail on nil). */
function lookup(dot: unknown, path: string): unknown {
  let current = dot;
  for (const key of path.split('.').slice(1)) {
    if (!isRecord(current) || !(key in current)) throw new Error(`${path}: no such value`);
    current = current[key];
  }
  return current;
}

function operand(word: string, dot: unknown): unknown {
  if (word.startsWith('"')) return JSON.parse(word) as string;
  if (/^-?\d+$/.test(word)) return Number(word);
  if (word === 'true' || word === 'false') return word === 'true';
  if (word === '.') return dot;
  if (/^(?:\.[A-Za-z_]\w*)+$/.test(word)) return lookup(dot, word);
  throw new Error(`unsupported operand ${word}`);
}

class Renderer {
  readonly #defines: Map<string, TemplateNode[]>;
  readonly #functions: Map<string, TemplateFunction>;

  constructor(defines: Map<string, TemplateNode[]>) {
    this.#defines = defines;
    this.#functions = new Map<string, TemplateFunction>([
      ['include', (name, data) => this.include(asString(name, 'include'), data)],
      ['nindent', (spaces, text) => `\n${indent(asNumber(spaces, 'nindent'), asString(text, 'nindent'))}`],
      ['indent', (spaces, text) => indent(asNumber(spaces, 'indent'), asString(text, 'indent'))],
      // sprig's quote is Go's %q of each argument's string form.
      ['quote', (...values) => values.map((value) => JSON.stringify(printed(value))).join(' ')],
      // Helm's toYaml: sigs.k8s.io/yaml (keys sorted) without the final newline.
      ['toYaml', (value) => dump(value, { sortKeys: true, lineWidth: -1 }).replace(/\n$/, '')],
    ]);
  }

  include(name: string, data: unknown): string {
    const nodes = this.#defines.get(name);
    if (nodes === undefined) throw new Error(`include: no template named ${name}`);
    return this.render(nodes, data);
  }

  render(nodes: readonly TemplateNode[], dot: unknown): string {
    let output = '';
    for (const node of nodes) {
      if (node.kind === 'text') output += node.text;
      else if (node.kind === 'output') output += printed(this.#pipeline(node.pipeline, dot));
      else output += this.render(truthy(this.#pipeline(node.condition, dot)) ? node.then : node.otherwise, dot);
    }
    return output;
  }

  #pipeline(pipeline: Pipeline, dot: unknown): unknown {
    let piped: unknown[] = [];
    for (const [head = '', ...rest] of pipeline) {
      const args = [...rest.map((word) => operand(word, dot)), ...piped];
      const named = this.#functions.get(head);
      if (named !== undefined) {
        piped = [named(...args)];
        continue;
      }
      if (/^[a-z]\w*$/.test(head)) throw new Error(`the function ${head} is not supported by this renderer`);
      const value = operand(head, dot);
      if (typeof value === 'function') piped = [(value as TemplateFunction)(...args)];
      else if (args.length > 0) throw new Error(`${head} is not a function`);
      else piped = [value];
    }
    return piped[0];
  }
}

// --- the charts ---------------------------------------------------------------------------------

interface Dependency {
  readonly name: string;
  readonly version: string;
  readonly repository: string;
  readonly alias?: string;
}

interface ChartMetadata {
  readonly apiVersion: string;
  readonly name: string;
  readonly type: string;
  readonly version: string;
  readonly appVersion: string;
  readonly description: string;
  readonly dependencies?: readonly Dependency[];
}

interface Chart {
  readonly dir: string;
  readonly metadata: ChartMetadata;
  readonly values: Values;
  /** templates/ files by name. */
  readonly templates: ReadonlyMap<string, string>;
}

function loadChart(dir: string): Chart {
  const read = (path: string) => readFileSync(join(dir, path), 'utf8');
  const values = load(read('values.yaml'));
  if (!isRecord(values)) throw new Error(`${dir}/values.yaml is not a map`);
  const names = readdirSync(join(dir, 'templates')).sort();
  return {
    dir,
    metadata: load(read('Chart.yaml')) as ChartMetadata,
    values,
    templates: new Map(names.map((name) => [name, read(`templates/${name}`)])),
  };
}

function parsedTemplates(chart: Chart): Map<string, ParsedTemplate> {
  return new Map([...chart.templates].map(([name, source]) => [name, parseTemplate(source, `${chart.dir}/templates/${name}`)]));
}

/** Helm's coalescing: `over` wins; maps merge, scalars and lists are replaced. */
function coalesce(over: Values, under: Values): Values {
  const merged: Values = structuredClone(over);
  for (const [key, value] of Object.entries(under)) {
    const mine = merged[key];
    if (!(key in merged)) merged[key] = structuredClone(value);
    else if (isRecord(mine) && isRecord(value)) merged[key] = coalesce(mine, value);
  }
  return merged;
}

/** The values Helm gives the example's templates: its own over the library's, which sit under the alias, with `global`. */
function exampleValues(example: Chart, library: Chart, overrides: Values = {}): Values {
  const own = coalesce(overrides, example.values);
  return { ...own, [ALIAS]: coalesce(isRecord(own[ALIAS]) ? own[ALIAS] : {}, { ...library.values, global: {} }) };
}

/** What `helm template` would give, by this file's renderer: every object of the chart's non-helper templates. */
function renderChart(chart: Chart, dependencies: readonly Chart[], values: Values): KubeObject[] {
  const defines = new Map<string, TemplateNode[]>();
  const own = parsedTemplates(chart);
  for (const parsed of [...dependencies.flatMap((dependency) => [...parsedTemplates(dependency).values()]), ...own.values()]) {
    for (const [name, nodes] of parsed.defines) defines.set(name, nodes);
  }
  const renderer = new Renderer(defines);
  const context = {
    Values: values,
    Release: RELEASE,
    Files: { Get: (path: unknown) => readFileSync(join(chart.dir, asString(path, '.Files.Get')), 'utf8') },
  };
  return [...own]
    .filter(([name]) => !name.startsWith('_') && name.endsWith('.yaml'))
    .flatMap(([, parsed]) => loadAll(renderer.render(parsed.body, context)))
    .filter((document): document is KubeObject => document !== null && document !== undefined);
}

// --- values references --------------------------------------------------------------------------

/** The `.Values.a.b` paths the templates' actions read, as ['a', 'b']. */
function valuesReferences(templates: Iterable<ParsedTemplate>): string[][] {
  const paths = new Map<string, string[]>();
  for (const { actions } of templates) {
    for (const action of actions) {
      for (const match of action.matchAll(/\.Values((?:\.[A-Za-z_]\w*)+)/g)) {
        const path = (match[1] ?? '').split('.').slice(1);
        paths.set(path.join('.'), path);
      }
    }
  }
  return [...paths.values()];
}

function hasPath(values: unknown, path: readonly string[]): boolean {
  let current = values;
  for (const key of path) {
    if (!isRecord(current) || !(key in current)) return false;
    current = current[key];
  }
  return true;
}

/** Paths to the values.yaml entries that are not maps (or are empty maps). */
function leafPaths(values: Values, prefix: readonly string[] = []): string[][] {
  return Object.entries(values).flatMap(([key, value]) =>
    isRecord(value) && Object.keys(value).length > 0 ? leafPaths(value, [...prefix, key]) : [[...prefix, key]],
  );
}

/** References to absent values, and values no reference reads (a reference to a map reads all beneath it). */
function referenceProblems(references: readonly string[][], values: Values, available: Values = values): string[] {
  const missing = references.filter((path) => !hasPath(available, path)).map((path) => `.Values.${path.join('.')} is not in values.yaml`);
  const reads = (leaf: readonly string[]) => references.some((path) => path.length <= leaf.length && path.every((key, i) => key === leaf[i]));
  const unused = leafPaths(values).filter((leaf) => !reads(leaf)).map((leaf) => `${leaf.join('.')} is never read by a template`);
  return [...missing, ...unused];
}

/** values.schema.json's problems with the values, as "path: message"; empty when they are valid. */
function valuesSchemaProblems(schema: object, values: unknown): string[] {
  const validate = new Ajv({ strict: true, allowUnionTypes: true, allErrors: true }).compile(schema);
  return validate(values) ? [] : (validate.errors ?? []).map((error) => `${error.instancePath || '/'}: ${error.message ?? ''}`);
}

// --- the manifests, and finding things ----------------------------------------------------------

async function kustomize(dir: string): Promise<KubeObject[]> {
  const home = await mkdtemp(join(tmpdir(), 'kustomize-home-'));
  const { stdout } = await execFileAsync('kubectl', ['kustomize', join(root, dir)], {
    env: { PATH: process.env['PATH'] ?? '', HOME: home, KUBECONFIG: join(home, 'none') },
  });
  return stdout.split(/^---$/m).map((text) => load(text) as KubeObject);
}


/** The ambassador's options from the sidecar's args, with $(VAR) expanded as the kubelet does. */
function sidecarOptions(sidecar: IContainer): Record<string, unknown> {
  const env = { POD_IP: '10.244.1.7', HOST_IP: '10.0.0.4', POD_NAMESPACE: APP, POD_NAME: 'analytics-5d8f-x2k4q' };
  const args = (sidecar.args ?? []).map((arg) => arg.replaceAll(/\$\((\w+)\)/g, (_, name: string) => env[name as keyof typeof env] ?? `unexpanded ${name}`));
  const parsed = parseOptions(args, env);
  if (parsed.kind !== 'run') throw new Error(`the sidecar's args do not parse: ${JSON.stringify(parsed)}`);
  return parsed.options;
}

function renderedDeployment(objects: readonly KubeObject[]): IPodSpec {
  return podSpec(find(objects, Deployment.is, APP));
}

let library: Chart;
let example: Chart;
let schema: object;
let base: KubeObject[];
let legacy: KubeObject[];

beforeAll(async () => {
  library = loadChart(LIBRARY_DIR);
  example = loadChart(EXAMPLE_DIR);
  schema = JSON.parse(await readFile(join(LIBRARY_DIR, 'values.schema.json'), 'utf8')) as object;
  [base, legacy] = await Promise.all([kustomize('manifests/base'), kustomize('manifests/legacy-sidecar')]);
});

// --- the tests ----------------------------------------------------------------------------------

describe('charts/: metadata and values', () => {
  it('has a v2 library chart and an application chart depending on it by the alias its templates read', async () => {
    const packageVersion = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string }).version;
    expect(library.metadata).toMatchObject({ apiVersion: 'v2', name: 'kube-api-ambassador', type: 'library', version: '0.1.0', appVersion: packageVersion });
    expect(library.metadata.description).toEqual(expect.any(String));
    expect(library.values['image']).toMatchObject({ repository: 'kube-api-ambassador', tag: library.metadata.appVersion });
    expect(readFileSync(join(root, 'Dockerfile'), 'utf8')).toContain(`org.opencontainers.image.version="${library.metadata.appVersion}"`);

    expect(example.metadata).toMatchObject({ apiVersion: 'v2', name: 'example', type: 'application', version: expect.any(String), appVersion: expect.any(String) });
    expect(example.metadata.dependencies).toEqual([
      { name: library.metadata.name, version: library.metadata.version, repository: 'file://../kube-api-ambassador', alias: ALIAS },
    ]);
    const repository = example.metadata.dependencies?.[0]?.repository.replace(/^file:\/\//, '') ?? '';
    expect(resolve(EXAMPLE_DIR, repository)).toBe(LIBRARY_DIR);
    // Helm needs the directory's name to be the chart's.
    expect([library.dir, example.dir].map((dir) => dir.split('/').at(-1))).toEqual([library.metadata.name, example.metadata.name]);
  });

  it("validates the values against the library's values.schema.json, as Helm would: its defaults, and the example's merged over them", () => {
    expect(schema).toMatchObject({ $schema: 'http://json-schema.org/draft-07/schema#' });
    expect(valuesSchemaProblems(schema, library.values)).toEqual([]);
    // Helm validates the dependency's merged values, into which it has copied `global`.
    const merged = exampleValues(example, library)[ALIAS];
    expect(merged).toHaveProperty('global');
    expect(valuesSchemaProblems(schema, merged)).toEqual([]);
    // The example overrides only keys the library has (also what additionalProperties: false enforces).
    const overridden = example.values[ALIAS];
    expect(isRecord(overridden) ? Object.keys(overridden).filter((key) => !(key in library.values)) : 'no overrides').toEqual([]);
    // The schema describes every value and requires them all (global aside).
    const described = Object.keys((schema as { properties: object }).properties).filter((key) => key !== 'global');
    expect(described.sort()).toEqual(Object.keys(library.values).sort());
  });

  it('refuses wrong values: wrong types, unknown keys, values outside an enum or below a minimum, a missing key', () => {
    const wrong = structuredClone(library.values);
    wrong['image'] = { repository: 'kube-api-ambassador', tag: 0.1, pullPolicy: 'Sometimes' };
    wrong['auditLevel'] = 'RequestResponse';
    wrong['tokenExpirationSeconds'] = 60;
    wrong['adminPort'] = '8002';
    wrong['metricsPort'] = 9090;
    delete wrong['nativeSidecar'];
    expect(valuesSchemaProblems(schema, wrong).sort()).toEqual([
      '/: must NOT have additional properties',
      "/: must have required property 'nativeSidecar'",
      '/adminPort: must be integer',
      '/auditLevel: must be equal to one of the allowed values',
      '/image/pullPolicy: must be equal to one of the allowed values',
      '/image/tag: must be string',
      '/tokenExpirationSeconds: must be >= 600',
    ]);
  });

  it('reads every value of both values.yaml files, and only values that exist', () => {
    const libraryTemplates = [...parsedTemplates(library).values()];
    const libraryReferences = valuesReferences(libraryTemplates);
    expect(libraryReferences.filter((path) => path[0] !== ALIAS)).toEqual([]);
    expect(referenceProblems(libraryReferences.map((path) => path.slice(1)), library.values)).toEqual([]);

    // The example's own templates and the library's, over the values Helm would merge.
    const exampleReferences = valuesReferences([...parsedTemplates(example).values(), ...libraryTemplates]);
    expect(referenceProblems(exampleReferences, example.values, exampleValues(example, library))).toEqual([]);
  });

  it('would report a misspelt reference and a value no template reads', () => {
    const misspelt = parseTemplate('{{ .Values.kubeApiAmbassador.image.pulPolicy }}{{ .Values.kubeApiAmbassador.image.tag }}', 'misspelt.tpl');
    expect(referenceProblems(valuesReferences([misspelt]).map((path) => path.slice(1)), { image: { tag: '1', pullPolicy: '' } })).toEqual([
      '.Values.image.pulPolicy is not in values.yaml',
      'image.pullPolicy is never read by a template',
    ]);
  });
});

describe('charts/: the templates', () => {
  it('balance their {{ }} and close every block; each public template documents the include line the example uses', () => {
    for (const chart of [library, example]) {
      for (const [name, source] of chart.templates) expect({ name, problems: structureProblems(source, name) }).toEqual({ name, problems: [] });
    }
    const [helpers] = library.templates.values();
    const defines = [...parseTemplate(helpers ?? '', '_sidecar.tpl').defines.keys()];
    expect(defines.sort()).toEqual([
      'kube-api-ambassador.podAnnotations',
      'kube-api-ambassador.podLabels',
      'kube-api-ambassador.policyConfigMap',
      'kube-api-ambassador.policyConfigMapName',
      'kube-api-ambassador.sidecar',
      'kube-api-ambassador.volumes',
    ]);
    const exampleSources = [...example.templates.values()].join('\n');
    for (const name of defines.filter((define) => define !== 'kube-api-ambassador.policyConfigMapName')) {
      // The comment just before the define shows the line to write; the example writes exactly that.
      const comment = new RegExp(`\\{\\{/\\*((?:(?!\\*/)[\\s\\S])*)\\*/\\}\\}\\s*\\{\\{- define "${name.replaceAll('.', '\\.')}"`).exec(helpers ?? '')?.[1] ?? '';
      const line = new RegExp(`^ *(\\{\\{-? include "${name.replaceAll('.', '\\.')}" \\. [^\\n]*\\}\\})$`, 'm').exec(comment)?.[1];
      expect({ name, line }).toEqual({ name, line: expect.any(String) });
      expect(exampleSources).toContain(line);
    }
  });

  it('would report unbalanced delimiters and unclosed blocks', () => {
    const broken = {
      'unclosed action': '{{ .Values.a ',
      'stray closing': 'a: b }}',
      'unclosed define': '{{- define "x" -}}\n{{ .Values.a }}\n',
      'unclosed if': '{{- define "x" -}}{{- if .Values.a }}a{{- end }}',
      'end without block': '{{ .Values.a }}{{ end }}',
      'unclosed comment': '{{/* a comment }}',
    };
    for (const [what, source] of Object.entries(broken)) expect({ what, problems: structureProblems(source, what).length }).toEqual({ what, problems: 1 });
  });

  it('are rendered only within the subset the renderer implements: anything else is an error, not a guess', () => {
    const render = (source: string, dot: unknown = { Values: { a: 'x' } }) => {
      const parsed = parseTemplate(source, 'test.tpl');
      return new Renderer(parsed.defines).render(parsed.body, dot);
    };
    expect(render('{{- define "t" -}}\n{{ . | quote }}\n{{- end }}\nk:\n  {{- include "t" .Values.a | nindent 2 }}')).toBe('\nk:\n  "x"');
    expect(() => render('{{ range .Values.a }}{{ end }}')).toThrow(/range.*not supported/);
    expect(() => render('{{ .Values.a | upper }}')).toThrow(/upper is not supported/);
    expect(() => render('{{ .Values.b }}')).toThrow(/\.Values\.b: no such value/);
    expect(() => render('{{ (.Values.a) }}')).toThrow(/unsupported syntax/);
    expect(() => render('{{ .Values }}')).toThrow(/refusing to print/);
  });
});

describe('charts/example rendered by the limited renderer', () => {
  it('gives the example objects, each valid against the Kubernetes API schemas', () => {
    const objects = renderChart(example, [library], exampleValues(example, library));
    expect(objects.map((object) => `${object.kind}/${object.metadata.name}`).sort()).toEqual([
      'ConfigMap/analytics-ambassador-policy',
      'ConfigMap/analytics-app',
      'Deployment/analytics',
      'Role/analytics',
      'RoleBinding/analytics',
      'ServiceAccount/analytics',
    ]);
    for (const object of objects) {
      const label = `${object.kind}/${object.metadata.name}`;
      expect({ label, problems: schemaProblems(object) }).toEqual({ label, problems: [] });
    }
    // The same checks fail on a broken sidecar.
    const broken = structuredClone(find(objects, Deployment.is, APP)) as unknown as KubeObject;
    const sidecar = container(podSpec(broken as unknown as IDeployment).initContainers, SIDECAR) as unknown as Record<string, unknown>;
    sidecar['restartPolcy'] = 'Always';
    expect(schemaProblems(broken)).toEqual(['/spec/template/spec/initContainers/0/restartPolcy: unknown field in V1Container']);
  });

  it("matches manifests/base: the sidecar (its args meaning the same options), the volumes, the pod's settings, the app", () => {
    const objects = renderChart(example, [library], exampleValues(example, library));
    const chart = renderedDeployment(objects);
    const manifest = renderedDeployment(base);

    const { args: chartArgs, ...chartSidecar } = container(chart.initContainers, SIDECAR);
    const { args: manifestArgs, ...manifestSidecar } = container(manifest.initContainers, SIDECAR);
    expect(chartSidecar).toEqual(manifestSidecar);
    // The chart also spells out --policy-mode, --admin-port and --audit-level, at their defaults.
    expect(sidecarOptions({ ...chartSidecar, args: chartArgs })).toEqual(sidecarOptions({ ...manifestSidecar, args: manifestArgs }));
    expect(chartArgs).toEqual(expect.arrayContaining(manifestArgs ?? []));

    // Only the policy ConfigMap's name differs: one per release.
    const renamed = (manifest.volumes ?? []).map((volume) =>
      volume.configMap?.name === 'ambassador-policy' ? { ...volume, configMap: { name: `${RELEASE.Name}-ambassador-policy` } } : volume,
    );
    expect(chart.volumes).toEqual(renamed);
    expect(chart.containers).toEqual(manifest.containers);
    const settings = (spec: IPodSpec) => ({ ...spec, containers: [], initContainers: [], volumes: [] });
    expect(settings(chart)).toEqual(settings(manifest));

    const podMetadata = (rendered: readonly KubeObject[]) => find(rendered, Deployment.is, APP).spec?.template.metadata;
    expect(podMetadata(objects)?.annotations).toEqual(podMetadata(base)?.annotations);
    expect(podMetadata(objects)?.labels).toEqual({ ...podMetadata(base)?.labels, 'app.kubernetes.io/instance': RELEASE.Name });
    expect(find(objects, Role.is, APP).rules).toEqual(find(base, Role.is, APP).rules);
    expect(find(objects, RoleBinding.is, APP).subjects).toEqual(find(base, RoleBinding.is, APP).subjects);
    expect(find(objects, ServiceAccount.is, APP).automountServiceAccountToken).toBe(false);
  });

  it("carries manifests/base's policy (the same rules) and its program (the same bytes) in its ConfigMaps", async () => {
    const objects = renderChart(example, [library], exampleValues(example, library));
    const policy = configMapFile(find(objects, ConfigMap.is, `${RELEASE.Name}-ambassador-policy`), 'policy.yaml');
    expect(load(policy)).toEqual(load(await readFile(join(root, 'manifests/base/policy.yaml'), 'utf8')));
    expect(policy).toBe(lookup(example.values, `.${ALIAS}.policy`));
    expect(configMapFile(find(objects, ConfigMap.is, `${RELEASE.Name}-app`), 'analytics.py')).toBe(
      await readFile(join(root, 'manifests/base/app/analytics.py'), 'utf8'),
    );
  });

  it('with nativeSidecar: false, matches manifests/legacy-sidecar: the sidecar first in containers, without restartPolicy', () => {
    const objects = renderChart(example, [library], exampleValues(example, library, { [ALIAS]: { nativeSidecar: false } }));
    const chart = renderedDeployment(objects);
    const manifest = renderedDeployment(legacy);
    expect(chart.initContainers ?? []).toEqual(manifest.initContainers ?? []);
    expect(chart.containers.map((item) => item.name)).toEqual([SIDECAR, APP]);
    const strip = ({ args: _args, ...rest }: IContainer) => rest;
    expect(strip(container(chart.containers, SIDECAR))).toEqual(strip(container(manifest.containers, SIDECAR)));
    expect(container(chart.containers, SIDECAR).restartPolicy).toBeUndefined();
    expect(schemaProblems(find(objects, Deployment.is, APP) as unknown as KubeObject)).toEqual([]);
  });

  it("without a policy, renders kubectl proxy's defaults: no --policy, no policy volume or mount, no ConfigMap", () => {
    const objects = renderChart(example, [library], exampleValues(example, library, { [ALIAS]: { policy: '' } }));
    expect(objects.filter((object) => object.kind === 'ConfigMap').map((object) => object.metadata.name)).toEqual([`${RELEASE.Name}-app`]);
    const spec = renderedDeployment(objects);
    const sidecar = container(spec.initContainers, SIDECAR);
    expect(sidecar.args).toEqual(['--admin-address=$(POD_IP)', '--admin-port=8002', '--audit-level=Metadata']);
    expect(sidecarOptions(sidecar)['policy']).toBe('');
    expect((sidecar.volumeMounts ?? []).map((mount) => mount.name)).toEqual(['service-account']);
    expect((spec.volumes ?? []).map((volume) => volume.name)).toEqual(['service-account', 'app']);
    for (const object of objects) expect(schemaProblems(object)).toEqual([]);
  });

  it('passes every setting through: image, pull policy, admin port (port, flag, annotation), token lifetime, audit level, policy mode, resources', () => {
    const overrides = {
      image: { repository: 'registry.example/kube-api-ambassador', tag: '0.2.0', pullPolicy: 'Always' },
      policyMode: 'log',
      auditLevel: 'None',
      adminPort: 9102,
      resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { cpu: 1, memory: '256Mi' } },
      tokenExpirationSeconds: 7200,
    };
    const values = exampleValues(example, library, { [ALIAS]: overrides });
    expect(valuesSchemaProblems(schema, values[ALIAS])).toEqual([]);
    const objects = renderChart(example, [library], values);
    const deployment = find(objects, Deployment.is, APP);
    const spec = podSpec(deployment);
    const sidecar = container(spec.initContainers, SIDECAR);
    expect(sidecar).toMatchObject({
      image: 'registry.example/kube-api-ambassador:0.2.0',
      imagePullPolicy: 'Always',
      ports: [{ name: 'ambassador-admin', containerPort: 9102, protocol: 'TCP' }],
      resources: overrides.resources,
    });
    expect(sidecarOptions(sidecar)).toMatchObject({ 'admin-port': 9102, 'audit-level': 'None', 'policy-mode': 'log', policy: '/etc/ambassador/policy.yaml' });
    expect(deployment.spec?.template.metadata?.annotations?.['prometheus.io/port']).toBe('9102');
    expect(spec.volumes?.[0]?.projected?.sources?.[0]).toEqual({ serviceAccountToken: { path: 'token', expirationSeconds: 7200 } });
    expect(schemaProblems(deployment as unknown as KubeObject)).toEqual([]);
  });
});
