// What every kind of upload digest offers (node:crypto, the native module, hash-wasm on a worker),
// and the one way an upload's bytes pass through one on their way to the store.
import { Readable } from 'node:stream';
import { chunksAsRead } from '../memory/chunks-as-read.js';
import { noteStreamedBytes } from '../memory/streamed-garbage.js';

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

/** The bytes of `body` as they come, each fed to `digest` (when there is one) before it is passed on. */
export async function* hashing(body: Readable | AsyncIterable<Buffer>, digest: RunningDigest | undefined): AsyncIterable<Buffer> {
  for await (const chunk of body instanceof Readable ? chunksAsRead(body) : body) {
    noteStreamedBytes(chunk.length);
    const behind = digest?.update(chunk);
    if (behind) await behind;
    yield chunk;
  }
}
