// Running digests of uploads in progress. Two kinds, chosen by what the blob store can afford:
//  - node:crypto (OpenSSL, ~1 GB/s here) cannot be saved, so between requests it lives in this
//    process's cache; on a miss the service re-reads the staged bytes (cheap on a local disk);
//  - hash-wasm (~130 MB/s here, on worker threads: hash-workers.ts) can save its state, which goes
//    into the uploads row after every chunk, so any replica can continue an upload without
//    reading back what is in S3.
import { createHash, type Hash } from 'node:crypto';
import type { DigestAlgorithm } from '../registry/digest.js';
import { HashWorkers } from './hash-workers.js';

export interface RunningDigest {
  /** Takes the bytes; a promise means "wait before the next chunk" (the hasher is behind). */
  update(chunk: Buffer): void | Promise<void>;
  /** Hex digest of everything so far; the digest cannot be used afterwards. */
  finish(): Promise<string>;
  /**
   * State to continue from in another request or process, when this kind can save one (the
   * digest cannot be used afterwards); null when it cannot (the digest goes on).
   */
  save(): Promise<Buffer | null>;
  /** Lets go of a digest that will not be finished or saved (a failed request). */
  dispose?(): void;
}

class NodeDigest implements RunningDigest {
  constructor(readonly hash: Hash) {}
  update(chunk: Buffer): void {
    this.hash.update(chunk);
  }
  async finish(): Promise<string> {
    return this.hash.digest('hex');
  }
  async save(): Promise<null> {
    return null;
  }
}

export function fastDigest(algorithm: DigestAlgorithm): RunningDigest {
  return new NodeDigest(createHash(algorithm));
}

let workers: HashWorkers | undefined;

/** A resumable digest, fresh or continued from a saved state; the threads start on first use. */
export function resumableDigest(algorithm: DigestAlgorithm, saved?: Buffer): RunningDigest {
  workers ??= new HashWorkers();
  return workers.open(algorithm, saved);
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
