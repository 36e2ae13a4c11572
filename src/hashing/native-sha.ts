// The optional native module of src/native/resumable-sha.c: SHA-256/512 at OpenSSL's speed whose
// running state can be saved. `npm install` builds it where a C compiler is at hand; without it
// the resumable digests fall back to hash-wasm (upload-digest.ts).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { DigestAlgorithm } from '../registry/digest.js';

export interface NativeSha {
  /** A fresh context: a Buffer the module reads and writes. */
  create(algorithm: DigestAlgorithm): Buffer;
  update(context: Buffer, bytes: Buffer): void;
  /** The raw digest; the context is spent. */
  digest(context: Buffer): Buffer;
  /** The running state, in the format resumable-sha.c documents; the context stays usable. */
  save(context: Buffer): Buffer;
  /** A context continuing a saved state, or null when the bytes are not one. */
  restore(saved: Buffer): Buffer | null;
}

/** From src/ (tsx) and from dist/ alike: the repository's dist/native/. */
export const NATIVE_SHA_FILE = fileURLToPath(new URL('../../dist/native/resumable-sha.node', import.meta.url));

/** The first bytes of every state the module saves ("BRS", format 1). */
const STATE_MAGIC = Buffer.from('BRS\x01', 'latin1');
const ALGORITHM_BYTE: Record<DigestAlgorithm, number> = { sha256: 1, sha512: 2 };

/** Whether `saved` is a state the native module wrote, and for which algorithm. */
export function nativeStateAlgorithm(saved: Buffer): DigestAlgorithm | 'unknown' | undefined {
  if (saved.length < 5 || !saved.subarray(0, 4).equals(STATE_MAGIC)) return undefined;
  return saved[4] === ALGORITHM_BYTE.sha256 ? 'sha256' : saved[4] === ALGORITHM_BYTE.sha512 ? 'sha512' : 'unknown';
}

let loaded: { sha?: NativeSha; reason?: string } | undefined;

/** The module, loaded on first use; undefined when it was not built or does not load here. */
export function nativeSha(): NativeSha | undefined {
  return load().sha;
}

/** Why nativeSha() is undefined, for the start-up log. */
export function nativeShaUnavailable(): string | undefined {
  return load().reason;
}

function load(): { sha?: NativeSha; reason?: string } {
  if (loaded) return loaded;
  try {
    loaded = { sha: createRequire(import.meta.url)(NATIVE_SHA_FILE) as NativeSha };
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND';
    loaded = { reason: missing ? `${NATIVE_SHA_FILE} not built (node src/native/build.mjs)` : (err as Error).message };
  }
  return loaded;
}
