/**
 * Reads credential files with a size bound, so a file swapped for something huge (a log, an image,
 * a half-rotated volume) fails one load with a readable error instead of growing the heap and the
 * Authorization header. Never reads more than limit + 1 bytes, whatever the file claims to be.
 */
import { open } from 'node:fs/promises';

/**
 * A bearer token, wherever it comes from (token file, kubeconfig, exec plugin). A projected
 * service account token is 1–2 KiB and OIDC id tokens with many groups stay well under 16 KiB;
 * 64 KiB leaves room for both while keeping a runaway file out of every request's headers.
 */
export const MAX_TOKEN_BYTES = 64 * 1024;

/**
 * A PEM file: CA bundle, client certificate chain or key. The whole Mozilla root bundle
 * (/etc/ssl/certs/ca-certificates.crt, about 140 certificates) is about 220 KiB; 1 MiB fits it
 * four times over.
 */
export const MAX_PEM_FILE_BYTES = 1024 * 1024;

/**
 * A kubeconfig. Each embedded certificate or key is about 2–4 KiB of base64; a fleet kubeconfig
 * with 200 clusters, each with its CA, client certificate and key embedded, stays under 2.5 MiB.
 */
export const MAX_KUBECONFIG_BYTES = 4 * 1024 * 1024;

/** What an exec credential plugin may print: an ExecCredential holds a token or a certificate and key. */
export const MAX_EXEC_OUTPUT_BYTES = 1024 * 1024;

/** The service account's namespace file: a DNS label of at most 63 characters. */
export const MAX_NAMESPACE_FILE_BYTES = 1024;

const READ_CHUNK_BYTES = 64 * 1024;

/** "64 KiB", "4 MiB", "30.0 MiB": the unit a reader expects for a file size. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const [value, unit] = bytes < 1024 * 1024 ? [bytes / 1024, 'KiB'] : [bytes / (1024 * 1024), 'MiB'];
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`;
}

/** The error for a source over its limit; says the load failed, so the last good credentials stay. */
export function tooLargeMessage(what: string, sizeBytes: number | undefined, limitBytes: number): string {
  const size = sizeBytes === undefined ? 'more than that' : formatBytes(sizeBytes);
  return `${what} is over the ${formatBytes(limitBytes)} limit (${size}); not loaded`;
}

/**
 * The contents of `file`, at most `limitBytes` long; rejects naming `what` and the limit if it is
 * larger (by its size, or by what a read returns for files whose size says nothing, such as /proc).
 */
export async function readBounded(file: string, limitBytes: number, what: string): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size > limitBytes) throw new Error(tooLargeMessage(what, size, limitBytes));
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, limitBytes + 1 - total));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(bytesRead === chunk.length ? chunk : chunk.subarray(0, bytesRead));
      total += bytesRead;
      if (total > limitBytes) throw new Error(tooLargeMessage(what, undefined, limitBytes));
    }
    return Buffer.concat(chunks, total);
  } finally {
    await handle.close();
  }
}
