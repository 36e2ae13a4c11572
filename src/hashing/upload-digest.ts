// Running digests of uploads in progress. Two kinds, chosen by what the blob store can afford:
//  - node:crypto (OpenSSL) cannot be saved, so between requests it lives in this process's cache;
//    on a miss the service re-reads the staged bytes (cheap on a local disk);
//  - resumable ones save their state, which goes into the uploads row after every chunk, so any
//    replica can continue an upload without reading back what is in S3: the native module
//    (native-sha.ts: OpenSSL's speed too) where it was built, else hash-wasm (about a tenth of
//    that speed, on worker threads: hash-workers.ts; README.md's benchmark has the figures).
import { createHash, type Hash } from 'node:crypto';
import type { DigestAlgorithm } from '../registry/digest.js';
import { HashWorkers } from './hash-workers.js';
import { nativeSha, nativeStateAlgorithm, type NativeSha } from './native-sha.js';
import type { RunningDigest } from './running-digest.js';

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

class NativeDigest implements RunningDigest {
  constructor(
    private readonly sha: NativeSha,
    private readonly context: Buffer,
  ) {}
  update(chunk: Buffer): void {
    this.sha.update(this.context, chunk);
  }
  async finish(): Promise<string> {
    return this.sha.digest(this.context).toString('hex');
  }
  async save(): Promise<Buffer> {
    return this.sha.save(this.context);
  }
}

/**
 * Opens resumable digests with the native module when there is one, else on hash-wasm workers
 * (started on first use). A state goes on with the kind that saved it: replicas built with and
 * without the module can share uploads in flight.
 */
export class ResumableDigests {
  private workers: HashWorkers | undefined;

  constructor(private readonly native: NativeSha | undefined) {}

  /**
   * A fresh digest, or one continuing `saved`; undefined when this process cannot continue it
   * (a native state without the module, or a damaged one): the caller then hashes the staged bytes.
   */
  open(algorithm: DigestAlgorithm, saved?: Buffer): RunningDigest | undefined {
    const savedBy = saved && nativeStateAlgorithm(saved);
    if (savedBy !== undefined) {
      const context = savedBy === algorithm ? this.native?.restore(saved!) : undefined;
      return context ? new NativeDigest(this.native!, context) : undefined;
    }
    if (this.native && !saved) return new NativeDigest(this.native, this.native.create(algorithm));
    this.workers ??= new HashWorkers();
    return this.workers.open(algorithm, saved);
  }

  async stop(): Promise<void> {
    await this.workers?.stop();
  }
}

let shared: ResumableDigests | undefined;

/** The process-wide instance: the native module if it was built. */
export function processResumableDigests(): ResumableDigests {
  shared ??= new ResumableDigests(nativeSha());
  return shared;
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
