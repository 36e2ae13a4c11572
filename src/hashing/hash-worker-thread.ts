// The worker side of HashWorkers: resumable SHA-256/512 (hash-wasm, whose state can be saved)
// for the uploads in progress, off the thread that moves the bytes. One hasher per job, taken from
// a few kept between jobs: each hasher is a WebAssembly instance with its own memory, and a chunked
// push opens one per PATCH (128 per GiB in 8 MiB chunks), whose memories V8 freed only now and
// then (smaps: 86 of them mapped at once, ~10 MiB resident).
import { parentPort } from 'node:worker_threads';
import { createSHA256, createSHA512, type IHasher } from 'hash-wasm';
import type { ToWorker, FromWorker } from './hash-worker-protocol.js';

type Algorithm = 'sha256' | 'sha512';

const port = parentPort!;
const hashers = new Map<number, Promise<{ hasher: IHasher; algorithm: Algorithm } | undefined>>();
const KEEP = 4;
const idle: Record<Algorithm, IHasher[]> = { sha256: [], sha512: [] };

function release(algorithm: Algorithm, hasher: IHasher): void {
  if (idle[algorithm].length < KEEP) idle[algorithm].push(hasher);
}

/** The job's hasher, or undefined when it could not be made (reported once, then ignored). */
async function open(id: number, algorithm: Algorithm, state: Uint8Array | undefined): Promise<{ hasher: IHasher; algorithm: Algorithm } | undefined> {
  try {
    const hasher = idle[algorithm].pop() ?? (algorithm === 'sha256' ? await createSHA256() : await createSHA512());
    hasher.init();
    if (state) hasher.load(state);
    return { hasher, algorithm };
  } catch (err) {
    reply({ t: 'error', id, message: (err as Error).message });
    return undefined;
  }
}

function reply(message: FromWorker): void {
  port.postMessage(message);
}

port.on('message', (message: ToWorker) => {
  const { id } = message;
  // Messages of one job are handled in order: each step waits for the hasher the open made.
  switch (message.t) {
    case 'open':
      hashers.set(id, open(id, message.algorithm, message.state));
      return;
    case 'data':
      void hashers.get(id)?.then((job) => {
        if (!job) return;
        job.hasher.update(new Uint8Array(message.bytes, 0, message.length));
        port.postMessage({ t: 'ack', id, bytes: message.bytes } satisfies FromWorker, [message.bytes]);
      });
      return;
    case 'close':
      void hashers.get(id)?.then((job) => {
        hashers.delete(id);
        if (!job) return;
        const { hasher, algorithm } = job;
        if (message.want === 'state') reply({ t: 'state', id, state: hasher.save() });
        else if (message.want === 'digest') reply({ t: 'digest', id, hex: hasher.digest('hex') });
        release(algorithm, hasher);
      });
      return;
  }
});
