/**
 * The layers of src/, as docs/architecture.md draws them (checked by architecture-doc.test.ts) and
 * the imports follow them (layers.test.ts). Lower numbers are lower layers; folders of one number
 * may not import each other.
 */
export const LAYERS: Readonly<Record<string, number>> = {
  config: 0,
  request: 1,
  cluster: 2,
  policy: 3,
  audit: 3,
  metrics: 3,
  tracing: 3,
  proxy: 4,
  server: 5,
  app: 6,
  history: 7,
  cli: 8,
  '.': 9, // main.ts
};
