// Running digests of uploads in progress, kept between the requests of one upload on this
// process. A miss (another replica, a restart, another algorithm) is not an error: the service
// then re-reads the staged bytes, which is always correct, only slower.
import type { Hash } from 'node:crypto';

interface Entry {
  algorithm: string;
  offset: number;
  hash: Hash;
}

export class UploadHashCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly capacity = 1024) {}

  /** The running hash when it covers exactly the first `offset` bytes with `algorithm`. */
  take(uploadId: string, algorithm: string, offset: number): Hash | undefined {
    const entry = this.entries.get(uploadId);
    this.entries.delete(uploadId);
    return entry && entry.algorithm === algorithm && entry.offset === offset ? entry.hash : undefined;
  }

  put(uploadId: string, algorithm: string, offset: number, hash: Hash): void {
    this.entries.delete(uploadId);
    this.entries.set(uploadId, { algorithm, offset, hash });
    // Maps iterate in insertion order: the first key is the least recently used.
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  forget(uploadId: string): void {
    this.entries.delete(uploadId);
  }
}
