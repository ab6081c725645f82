#!/usr/bin/env node
/**
 * kube-api-ambassador's entry point, and the only module that touches `process`:
 * argv → configuration → ambassador → listen → signals → exit code.
 * Exit codes: 0 stopped cleanly, 1 failed while running, 2 invalid configuration or no cluster.
 */
import { readFileSync } from 'node:fs';
import { homedir, totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { pino, type Logger } from 'pino';
import { createAmbassador, type Environment } from './app/ambassador.ts';
import { StartupError } from './app/startup-error.ts';
import { renderHelp } from './config/help.ts';
import { nodeVersionProblem } from './config/node-version.ts';
import type { LogLevel } from './config/options.ts';
import { parseOptions } from './config/parse-options.ts';
import type { MemorySample } from './proxy/memory-budget.ts';

const PROGRAM = 'kube-api-ambassador';
const EXIT_RUNTIME_FAILURE = 1;
const EXIT_CONFIGURATION = 2;

function readVersion(): string {
  const manifest: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  return typeof manifest === 'object' && manifest !== null && 'version' in manifest
    ? String(manifest.version)
    : 'unknown';
}

function sampleMemory(): MemorySample {
  const heap = getHeapStatistics();
  return {
    rssBytes: process.memoryUsage.rss(),
    heapUsedBytes: heap.used_heap_size,
    heapLimitBytes: heap.heap_size_limit,
  };
}

function processEnvironment(): Environment {
  return {
    env: process.env,
    homeDir: homedir(),
    constrainedMemoryBytes: process.constrainedMemory(),
    totalMemoryBytes: totalmem(),
    sampleMemory,
    version: readVersion(),
  };
}

function createLogger(level: LogLevel): Logger {
  return pino({
    name: PROGRAM,
    level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
}

/** Runs the ambassador until a signal; every problem before it is listening is a StartupError. */
async function serve(argv: readonly string[]): Promise<number> {
  const parsed = parseOptions(argv, process.env);
  switch (parsed.kind) {
    case 'help':
      process.stdout.write(renderHelp(PROGRAM));
      return 0;
    case 'version':
      process.stdout.write(`${PROGRAM} ${readVersion()}\n`);
      return 0;
    case 'invalid':
      throw new StartupError('configuration', parsed.problems, 'invalid configuration');
    case 'run':
      break;
  }
  const { config } = parsed;
  const ambassador = await createAmbassador(config, processEnvironment(), createLogger(config.logLevel));
  await ambassador.start();
  await ambassador.stop(await nextSignal());
  return 0;
}

async function run(argv: readonly string[]): Promise<number> {
  const unsupported = nodeVersionProblem(process.version, process.execPath);
  if (unsupported !== undefined) throw new StartupError('configuration', [unsupported]);
  if (argv[0] === 'help') {
    process.stdout.write(renderHelp(PROGRAM));
    return 0;
  }
  if (argv[0] === 'policy') {
    const { runPolicyCommand } = await import('./cli/policy-command.ts');
    return runPolicyCommand(argv.slice(1), process.env, process.stdin, process.stdout, process.stderr);
  }
  return serve(argv);
}

/** The one place a failure is printed and its exit code chosen. */
function exitCodeFor(error: unknown): number {
  if (error instanceof StartupError) {
    process.stderr.write(`${PROGRAM}: ${error.message}\n`);
    return error.stage === 'listen' ? EXIT_RUNTIME_FAILURE : EXIT_CONFIGURATION;
  }
  process.stderr.write(`${PROGRAM}: ${(error as Error).stack ?? String(error)}\n`);
  return EXIT_RUNTIME_FAILURE;
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => process.exit(exitCodeFor(error)),
);
