/**
 * Reads kubeconfigs as kubectl does (files merged, first definition wins, paths relative to the
 * file that holds them) and returns only the selected context's cluster and user. Files are read
 * with a size bound, and no error quotes a kubeconfig's text: a YAML error names the file, line
 * and column, a wrong type the field's path, because the text around them may be a token or key.
 */
import { dirname, isAbsolute, join, sep } from 'node:path';
import { load as parseYaml, YAMLException } from 'js-yaml';
import { MAX_KUBECONFIG_BYTES, readBounded } from './bounded-read.ts';

export interface KubeconfigCluster {
  readonly name: string;
  readonly server: string;
  readonly certificateAuthority: string | undefined;
  readonly certificateAuthorityData: string | undefined;
  readonly insecureSkipTlsVerify: boolean;
  readonly tlsServerName: string | undefined;
}

export interface ExecPluginConfig {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly apiVersion: string;
}

export interface KubeconfigUser {
  readonly name: string;
  readonly token: string | undefined;
  readonly tokenFile: string | undefined;
  readonly clientCertificate: string | undefined;
  readonly clientCertificateData: string | undefined;
  readonly clientKey: string | undefined;
  readonly clientKeyData: string | undefined;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** `as:`, sent as Impersonate-User. */
  readonly impersonate: string | undefined;
  readonly exec: ExecPluginConfig | undefined;
  /** The `auth-provider` name, which the ambassador refuses (see credentialsFromKubeconfig). */
  readonly authProvider: string | undefined;
}

export interface SelectedKubeconfig {
  readonly context: string;
  readonly contexts: readonly string[];
  readonly cluster: KubeconfigCluster | undefined;
  readonly user: KubeconfigUser | undefined;
}

type YamlMapping = Readonly<Record<string, unknown>>;

/** A named entry (cluster, user, context) and where it was defined, for errors and relative paths. */
interface Entry {
  readonly body: unknown;
  readonly where: string;
  readonly dir: string;
}

/**
 * js-yaml quotes the input in a few reasons (tag names, aliases, tag handles), always after a
 * quote, `<` or `:`; a reason made of words alone quotes nothing and can be shown.
 */
const REASON_WITHOUT_INPUT = /^[a-z %,]+$/i;

/** Parses a kubeconfig's text; a syntax error names `file`, line and column but never quotes the text. */
export function parseKubeconfigText(text: string, file: string): unknown {
  try {
    return parseYaml(text);
  } catch (error) {
    if (!(error instanceof YAMLException) || error.mark === undefined)
      // eslint-disable-next-line preserve-caught-error -- the cause quotes the kubeconfig, secrets and all.
      throw new Error(`the kubeconfig ${file} is not valid YAML`);
    const reason = REASON_WITHOUT_INPUT.test(error.reason) ? `: ${error.reason}` : '';
    // eslint-disable-next-line preserve-caught-error -- the cause quotes the kubeconfig, secrets and all.
    throw new Error(
      `the kubeconfig ${file} is not valid YAML at line ${error.mark.line + 1}, column ${error.mark.column + 1}${reason}`,
    );
  }
}

function isMapping(value: unknown): value is YamlMapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mappingOrEmpty(value: unknown, where: string): YamlMapping {
  if (value === undefined || value === null) return {};
  if (!isMapping(value)) throw new Error(`${where} must be a mapping`);
  return value;
}

function optionalString(mapping: YamlMapping, key: string, where: string): string | undefined {
  const value = mapping[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new Error(`${where}.${key} must be a string`);
  return value;
}

function stringList(mapping: YamlMapping, key: string, where: string): string[] {
  const value = mapping[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string'))
    throw new Error(`${where}.${key} must be a list of strings`);
  return value;
}

/** client-go resolves these against the directory of the file that defines them (clientcmd/loader.go, ResolveLocalPaths). */
function resolvePath(path: string | undefined, dir: string): string | undefined {
  return path === undefined || isAbsolute(path) ? path : join(dir, path);
}

function collectEntries(
  document: YamlMapping,
  list: 'clusters' | 'users' | 'contexts',
  file: string,
  into: Map<string, Entry>,
): void {
  const entries = document[list];
  if (entries === undefined || entries === null) return;
  if (!Array.isArray(entries)) throw new Error(`the kubeconfig ${file}: ${list} must be a list`);
  entries.forEach((entry: unknown, index) => {
    const where = `the kubeconfig ${file}: ${list}[${index}]`;
    if (!isMapping(entry) || typeof entry['name'] !== 'string' || entry['name'] === '')
      throw new Error(`${where} needs a name`);
    // kubectl merges $KUBECONFIG files with the first definition of a name winning (clientcmd/loader.go, Load).
    if (!into.has(entry['name']))
      into.set(entry['name'], {
        body: entry[list.slice(0, -1)],
        where: `${where}.${list.slice(0, -1)}`,
        dir: dirname(file),
      });
  });
}

function toCluster(name: string, entry: Entry): KubeconfigCluster {
  const fields = mappingOrEmpty(entry.body, entry.where);
  const server = optionalString(fields, 'server', entry.where);
  if (server === undefined) throw new Error(`${entry.where}.server is missing`);
  const skip = fields['insecure-skip-tls-verify'];
  if (skip !== undefined && skip !== null && typeof skip !== 'boolean')
    throw new Error(`${entry.where}.insecure-skip-tls-verify must be true or false`);
  return {
    name,
    server,
    certificateAuthority: resolvePath(optionalString(fields, 'certificate-authority', entry.where), entry.dir),
    certificateAuthorityData: optionalString(fields, 'certificate-authority-data', entry.where),
    insecureSkipTlsVerify: skip === true,
    tlsServerName: optionalString(fields, 'tls-server-name', entry.where),
  };
}

function toExec(value: unknown, where: string, dir: string): ExecPluginConfig | undefined {
  if (value === undefined || value === null) return undefined;
  const fields = mappingOrEmpty(value, where);
  const command = optionalString(fields, 'command', where);
  if (command === undefined) throw new Error(`${where}.command is missing`);
  const apiVersion = optionalString(fields, 'apiVersion', where);
  if (apiVersion === undefined) throw new Error(`${where}.apiVersion is missing`);
  const env: Record<string, string> = {};
  const envList = fields['env'];
  if (envList !== undefined && envList !== null) {
    if (!Array.isArray(envList)) throw new Error(`${where}.env must be a list`);
    envList.forEach((item: unknown, index) => {
      const itemWhere = `${where}.env[${index}]`;
      const variable = mappingOrEmpty(item, itemWhere);
      const name = optionalString(variable, 'name', itemWhere);
      if (name === undefined) throw new Error(`${itemWhere}.name is missing`);
      env[name] = optionalString(variable, 'value', itemWhere) ?? '';
    });
  }
  return {
    // Only a command given as a path is relative to the kubeconfig; a bare name is looked up in PATH (GetAuthInfoFileReferences).
    command: command.includes(sep) ? (resolvePath(command, dir) ?? command) : command,
    args: stringList(fields, 'args', where),
    env,
    apiVersion,
  };
}

function toUser(name: string, entry: Entry): KubeconfigUser {
  const fields = mappingOrEmpty(entry.body, entry.where);
  const authProvider = fields['auth-provider'];
  return {
    name,
    token: optionalString(fields, 'token', entry.where),
    tokenFile: resolvePath(
      optionalString(fields, 'tokenFile', entry.where) ?? optionalString(fields, 'token-file', entry.where),
      entry.dir,
    ),
    clientCertificate: resolvePath(optionalString(fields, 'client-certificate', entry.where), entry.dir),
    clientCertificateData: optionalString(fields, 'client-certificate-data', entry.where),
    clientKey: resolvePath(optionalString(fields, 'client-key', entry.where), entry.dir),
    clientKeyData: optionalString(fields, 'client-key-data', entry.where),
    username: optionalString(fields, 'username', entry.where),
    password: optionalString(fields, 'password', entry.where),
    impersonate: optionalString(fields, 'as', entry.where),
    exec: toExec(fields['exec'], `${entry.where}.exec`, entry.dir),
    authProvider: isMapping(authProvider)
      ? (optionalString(authProvider, 'name', `${entry.where}.auth-provider`) ?? 'unnamed')
      : undefined,
  };
}

/**
 * Reads `files` (merged as kubectl merges $KUBECONFIG) and selects `context`, or the first
 * current-context when it is empty. Rejects with an error that quotes no file's contents.
 */
export async function readKubeconfig(files: readonly string[], context: string): Promise<SelectedKubeconfig> {
  const clusters = new Map<string, Entry>();
  const users = new Map<string, Entry>();
  const contexts = new Map<string, Entry>();
  let currentContext: string | undefined;
  for (const file of files) {
    const text = (await readBounded(file, MAX_KUBECONFIG_BYTES, `the kubeconfig ${file}`)).toString('utf8');
    const document = mappingOrEmpty(parseKubeconfigText(text, file), `the kubeconfig ${file}`);
    collectEntries(document, 'clusters', file, clusters);
    collectEntries(document, 'users', file, users);
    collectEntries(document, 'contexts', file, contexts);
    currentContext ??= optionalString(document, 'current-context', `the kubeconfig ${file}`);
  }
  const selected = context !== '' ? context : (currentContext ?? '');
  const contextEntry = contexts.get(selected);
  const names = [...contexts.keys()];
  if (contextEntry === undefined) {
    if (context !== '')
      throw new Error(`The kubeconfig has no context "${context}"; it has: ${names.join(', ') || 'none'}.`);
    return { context: selected, contexts: names, cluster: undefined, user: undefined };
  }
  const fields = mappingOrEmpty(contextEntry.body, contextEntry.where);
  const clusterName = optionalString(fields, 'cluster', contextEntry.where);
  const userName = optionalString(fields, 'user', contextEntry.where);
  const clusterEntry = clusterName === undefined ? undefined : clusters.get(clusterName);
  const userEntry = userName === undefined ? undefined : users.get(userName);
  return {
    context: selected,
    contexts: names,
    cluster: clusterEntry === undefined || clusterName === undefined ? undefined : toCluster(clusterName, clusterEntry),
    user: userEntry === undefined || userName === undefined ? undefined : toUser(userName, userEntry),
  };
}
