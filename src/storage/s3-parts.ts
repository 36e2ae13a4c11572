// Cuts a byte stream of any chunking into multipart-upload parts of a fixed size, holding at most
// two parts in memory: the one being filled and the one being uploaded. Bytes that logically come
// first but are not in memory (an upload's tail objects) are fetched only when a part needs them.
import type { S3Part } from './s3-upload-state.js';

/** S3's limit on the parts of one multipart upload. */
export const MAX_PARTS = 10_000;
/** A part is first filled in small buffers, so a 1 KiB append does not take a whole part... */
const FIRST_ALLOCATION = 64 * 1024;
/** ...and past this much, in a whole part buffer from the pool. */
const SMALL_LIMIT = 1024 * 1024;
/** Part buffers kept between requests, per part size: a steady push allocates none. */
const POOL_KEEP = 2;
const pools = new Map<number, Buffer[]>();

function takePartBuffer(size: number): Buffer {
  return pools.get(size)?.pop() ?? Buffer.allocUnsafe(size);
}

function givePartBuffer(buf: Buffer, size: number): void {
  if (buf.length !== size) return;
  const pool = pools.get(size) ?? [];
  if (pool.length < POOL_KEEP) pool.push(buf);
  pools.set(size, pool);
}

export interface PartCutterOptions {
  partSize: number;
  /** Number of the first part this cutter uploads. */
  firstPart: number;
  /** Highest part number it may use (the caller may keep one free for a last part). */
  lastPart: number;
  /** Bytes that precede the first new byte and are fetched on demand by `loadPrefix`. */
  prefix: number;
  loadPrefix(into: Buffer): Promise<void>;
  /** Uploads one part and resolves with its ETag. */
  upload(partNumber: number, body: Buffer): Promise<string>;
}

export class PartCutter {
  /** Parts uploaded so far, in order. */
  readonly parts: S3Part[] = [];
  private nextPart: number;
  private prefix: number;
  /** New bytes of the part being filled: buf[0, len). */
  private buf: Buffer | null = null;
  private len = 0;
  private inFlight: Promise<void> | null = null;

  constructor(private readonly o: PartCutterOptions) {
    this.nextPart = o.firstPart;
    this.prefix = o.prefix;
  }

  /** Bytes not yet in an uploaded part, the unfetched prefix included. */
  get pending(): number {
    return this.prefix + this.len;
  }

  /** Whether the prefix bytes are still only in their objects (no part has taken them). */
  get prefixPending(): boolean {
    return this.prefix > 0;
  }

  /** The new bytes not yet in a part (the unfetched prefix excluded); valid until release(). */
  remainder(): Buffer {
    return this.buf ? this.buf.subarray(0, this.len) : Buffer.alloc(0);
  }

  async write(chunk: Buffer): Promise<void> {
    let pos = 0;
    while (pos < chunk.length) {
      const n = Math.min(this.o.partSize - this.pending, chunk.length - pos);
      const buf = this.reserve(this.len + n);
      chunk.copy(buf, this.len, pos, pos + n);
      this.len += n;
      pos += n;
      if (this.pending === this.o.partSize) await this.flush();
    }
  }

  /** Uploads everything pending as one part (the upload of the previous part finishes first). */
  async flush(): Promise<void> {
    if (this.pending === 0) return;
    const body = await this.takeBody();
    const owner = this.buf!;
    await this.settle();
    const n = this.nextPart;
    if (n > this.o.lastPart) {
      throw new Error(`upload exceeds ${this.o.lastPart} parts of ${this.o.partSize} bytes, the most this S3 store accepts`);
    }
    this.nextPart += 1;
    this.buf = null;
    this.len = 0;
    const uploading = this.o
      .upload(n, body)
      .then((etag) => {
        this.parts.push({ n, etag, size: body.length });
      })
      .finally(() => givePartBuffer(owner, this.o.partSize));
    // Observed now so a failure never counts as unhandled; it is rethrown by settle().
    uploading.catch(() => {});
    this.inFlight = uploading;
  }

  /** Waits for the part upload in flight; rethrows its failure. Always call before giving up. */
  async settle(): Promise<void> {
    const uploading = this.inFlight;
    this.inFlight = null;
    if (uploading) await uploading;
  }

  /** Hands the buffer back for reuse; call once done with remainder(), after settle(). */
  release(): void {
    if (this.buf) givePartBuffer(this.buf, this.o.partSize);
    this.buf = null;
    this.len = 0;
  }

  /** The pending bytes as one buffer: the prefix fetched in front of the new bytes if needed. */
  private async takeBody(): Promise<Buffer> {
    if (this.prefix === 0) return this.remainder();
    const size = this.prefix + this.len;
    const whole = size === this.o.partSize ? takePartBuffer(size) : Buffer.allocUnsafe(size);
    await this.o.loadPrefix(whole.subarray(0, this.prefix));
    this.buf?.copy(whole, this.prefix, 0, this.len);
    this.release();
    this.prefix = 0;
    this.buf = whole;
    this.len = size;
    return whole.subarray(0, size);
  }

  /** A buffer for the current part with room for `needed` new bytes: small ones grow, then a part. */
  private reserve(needed: number): Buffer {
    if (this.buf && this.buf.length >= needed) return this.buf;
    const grown = Math.max(needed, FIRST_ALLOCATION, 2 * (this.buf?.length ?? 0));
    const next = grown > SMALL_LIMIT ? takePartBuffer(this.o.partSize) : Buffer.allocUnsafe(grown);
    this.buf?.copy(next, 0, 0, this.len);
    this.buf = next;
    return next;
  }
}
