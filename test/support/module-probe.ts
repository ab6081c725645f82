/**
 * Preloaded (`NODE_OPTIONS=--import …`) into an ambassador under test: writes every OpenTelemetry
 * module the process resolves, by `import` or `require`, to stderr, so a test can tell whether
 * the tracing code was loaded at all.
 */
import { registerHooks } from 'node:module';

process.stderr.write('module-probe: ready\n');
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    if (resolved.url.includes('/node_modules/@opentelemetry/')) process.stderr.write(`module-probe: ${resolved.url}\n`);
    return resolved;
  },
});
