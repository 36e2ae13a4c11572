// Running digests of uploads in progress. Two kinds, chosen by what the blob store can afford:
//  - node:crypto (OpenSSL, ~1.4 GB/s here) cannot be saved, so between requests it lives in this
//    process's cache; on a miss the service re-reads the staged bytes (cheap on a local disk);
//  - hash-wasm (~220 MB/s here) can save its state, which goes into the uploads row after every
//    chunk, so any replica can continue an upload without reading back what is in S3.
import { createHash, type Hash } from 'node:crypto';
import { createSHA256, createSHA512, type IHasher } from 'hash-wasm';
import type { DigestAlgorithm } from '../registry/digest.js';

export interface RunningDigest {
  update(chunk: Buffer): void;
  /** Hex digest of everything so far; the digest cannot be used afterwards. */
  finish(): string;
  /** State to continue from in another request or process, when this kind can save one. */
  save(): Buffer | null;
}

class NodeDigest implements RunningDigest {
  constructor(readonly hash: Hash) {}
  update(chunk: Buffer): void {
    this.hash.update(chunk);
  }
  finish(): string {
    return this.hash.digest('hex');
  }
  save(): null {
    return null;
  }
}

class ResumableDigest implements RunningDigest {
  constructor(private readonly hasher: IHasher) {}
  update(chunk: Buffer): void {
    this.hasher.update(chunk);
  }
  finish(): string {
    return this.hasher.digest('hex');
  }
  save(): Buffer {
    return Buffer.from(this.hasher.save());
  }
}

export function fastDigest(algorithm: DigestAlgorithm): RunningDigest {
  return new NodeDigest(createHash(algorithm));
}

/** A resumable digest, fresh or continued from a saved state. */
export async function resumableDigest(algorithm: DigestAlgorithm, saved?: Buffer): Promise<RunningDigest> {
  const hasher = algorithm === 'sha256' ? await createSHA256() : await createSHA512();
  hasher.init();
  if (saved) hasher.load(saved);
  return new ResumableDigest(hasher);
}

interface CacheEntry {
  algorithm: string;
  offset: number;
  digest: RunningDigest;
}

/**
 * Unsaveable digests kept between the requests of one upload in this process. A miss (another
 * replica, a restart, another algorithm) is not an error: the caller falls back.
 */
export class DigestCache {
  private readonly entries = new Map<string, CacheEntry>();

  constructor(private readonly capacity = 1024) {}

  /** The running digest when it covers exactly the first `offset` bytes with `algorithm`. */
  take(uploadId: string, algorithm: string, offset: number): RunningDigest | undefined {
    const entry = this.entries.get(uploadId);
    this.entries.delete(uploadId);
    return entry && entry.algorithm === algorithm && entry.offset === offset ? entry.digest : undefined;
  }

  put(uploadId: string, algorithm: string, offset: number, digest: RunningDigest): void {
    this.entries.delete(uploadId);
    this.entries.set(uploadId, { algorithm, offset, digest });
    // Maps iterate in insertion order: the first key is the least recently used.
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  forget(uploadId: string): void {
    this.entries.delete(uploadId);
  }
}
