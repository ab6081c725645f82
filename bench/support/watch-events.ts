/**
 * The events of the watch benchmark: each carries, in an annotation, the time the upstream wrote it
 * on the machine's monotonic clock (process.hrtime, ns), the same clock in every process on the
 * machine, so the client can tell how long each event took to arrive.
 */

const SENT_AT_ANNOTATION = 'bench.kube-api-ambassador/sent-at';
const SENT_AT = /"bench\.kube-api-ambassador\/sent-at":"(\d+)"/;

/** One line of a watch stream, as the API server writes it. */
export function watchEventLine(type: 'ADDED' | 'MODIFIED', name: string, resourceVersion: number): string {
  const metadata = {
    name,
    namespace: 'default',
    resourceVersion: String(resourceVersion),
    annotations: { [SENT_AT_ANNOTATION]: String(process.hrtime.bigint()) },
  };
  return `${JSON.stringify({ type, object: { kind: 'Pod', apiVersion: 'v1', metadata } })}\n`;
}

/** When the event on this line was written (hrtime ns), or undefined if the line holds none. */
export function sentAt(line: string): bigint | undefined {
  const digits = SENT_AT.exec(line)?.[1];
  return digits === undefined ? undefined : BigInt(digits);
}
