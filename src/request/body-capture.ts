/**
 * A copy of the first bytes of a body streaming through, for the audit log: it watches the chunks
 * go by and never holds the stream up. Past `limit` bytes it keeps nothing (a cut JSON body could
 * not be redacted) and only counts.
 */
export class BodyCapture {
  readonly contentType: string | undefined;
  readonly contentEncoding: string | undefined;
  readonly limit: number;
  #chunks: Buffer[] = [];
  /** Every byte that went by, kept or not. */
  bytes = 0;

  constructor(limit: number, contentType: string | undefined, contentEncoding: string | undefined) {
    this.limit = limit;
    this.contentType = contentType;
    this.contentEncoding = contentEncoding;
  }

  /** Copies the chunk: a slice would pin the whole socket read buffer it came from. */
  add(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.bytes <= this.limit) this.#chunks.push(Buffer.from(chunk));
    else this.#chunks = [];
  }

  get truncated(): boolean {
    return this.bytes > this.limit;
  }

  /** The body as text, or undefined past the limit. */
  text(): string | undefined {
    return this.truncated ? undefined : Buffer.concat(this.#chunks).toString('utf8');
  }
}
