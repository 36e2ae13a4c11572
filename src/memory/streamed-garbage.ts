// Blob bytes streamed through Berth (a request body, an S3 object being served) arrive as a fresh
// 64 KiB buffer per socket read. Each dies at once (copied into the store's part buffers or the
// digest's batches, or written to the client), but V8 frees such buffers only in a collection,
// and starts one for their sake only after ~64 MiB of them piled up: while a 1 GiB blob was
// pushed to S3 that garbage was a third of Berth's memory (when measured: peak RSS 162 MiB,
// against the bench's limit of 150). A young-generation collection after every COLLECT_EVERY
// bytes streamed keeps the pile that small (then 141-145 MiB); each took 2-4 ms, ~0.1 s per
// 256 MiB. At most one per MIN_INTERVAL_MS, so a busy server (many pushes, GB/s) spends under
// 10 % of a core on them and lets V8's own trigger handle the rest.
import { Transform, pipeline, type Readable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';

const COLLECT_EVERY = 8 * 1024 * 1024;
const MIN_INTERVAL_MS = 50;

type MinorGc = (options: { type: 'minor' }) => void;

let received = 0;
let lastCollection = 0;
const minorGc = exposeGc();

/**
 * V8 hands out its `gc` function only to contexts created while --expose-gc is set; the flag is
 * set for one new context and cleared again, so no code of Berth's own context sees a global gc.
 */
function exposeGc(): MinorGc | undefined {
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') return existing as MinorGc;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as MinorGc) : undefined;
  } catch {
    return undefined; // no collections on demand: memory is higher, nothing else changes
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

/** Counts blob bytes streamed; collects the young generation after every COLLECT_EVERY of them. */
export function noteStreamedBytes(n: number): void {
  received += n;
  if (received < COLLECT_EVERY) return;
  const now = performance.now();
  if (now - lastCollection < MIN_INTERVAL_MS) return;
  received = 0;
  lastCollection = now;
  minorGc?.({ type: 'minor' });
}

/** `source` as it is, its bytes counted by noteStreamedBytes; an error or destroy on either end reaches the other. */
export function countingStreamedBytes(source: Readable): Readable {
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      noteStreamedBytes(chunk.length);
      done(null, chunk);
    },
  });
  return pipeline(source, counter, () => {});
}
