// Buffers kept between requests for the byte paths that fill a buffer and let go of it again
// (response writes in storage/fs/send-file.ts and storage/s3/http-object-send.ts, S3 part buffers in
// storage/s3/part-cutter.ts, hash batches in hashing/hash-workers.ts): a fresh buffer per chunk is
// garbage V8 must collect, and on those paths collecting it cost more than moving the bytes.

export class BufferPool {
  /** Spare buffers by size; a size has an entry once a buffer of it was taken. */
  private readonly spare = new Map<number, Buffer[]>();

  constructor(
    /** Buffers kept at most per size (keep × size bytes). */
    private readonly keep: number,
  ) {}

  /** A buffer of `size` bytes (contents undefined) that owns its whole ArrayBuffer, so it can be transferred. */
  take(size: number): Buffer {
    let spare = this.spare.get(size);
    if (!spare) this.spare.set(size, (spare = []));
    return spare.pop() ?? Buffer.allocUnsafeSlow(size);
  }

  /** Only once nothing refers to its bytes (a write's callback came); sizes never taken are left to V8. */
  giveBack(buffer: Buffer): void {
    const spare = this.spare.get(buffer.length);
    if (spare && spare.length < this.keep) spare.push(buffer);
  }
}
