// Buffers of one size kept between requests for the byte paths that write into responses
// (http/send-file.ts, storage/http-object-send.ts): a fresh buffer per chunk is garbage V8 must
// collect, and on those paths collecting it cost more than moving the bytes.

export class SpareBuffers {
  private readonly spare: Buffer[] = [];

  constructor(
    readonly size: number,
    /** Buffers kept at most (size × max bytes). */
    private readonly max: number,
  ) {}

  take(): Buffer {
    return this.spare.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /** Only once nothing refers to its bytes (a write's callback came); other sizes are left to V8. */
  giveBack(buffer: Buffer): void {
    if (buffer.length === this.size && this.spare.length < this.max) this.spare.push(buffer);
  }
}
