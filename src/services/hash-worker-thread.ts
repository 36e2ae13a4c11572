// The worker side of HashWorkers: resumable SHA-256/512 (hash-wasm, whose state can be saved)
// for the uploads in progress, off the thread that moves the bytes. One hasher per job.
import { parentPort } from 'node:worker_threads';
import { createSHA256, createSHA512, type IHasher } from 'hash-wasm';
import type { ToWorker, FromWorker } from './hash-worker-protocol.js';

const port = parentPort!;
const hashers = new Map<number, Promise<IHasher | undefined>>();

/** The job's hasher, or undefined when it could not be made (reported once, then ignored). */
async function open(id: number, algorithm: 'sha256' | 'sha512', state: Uint8Array | undefined): Promise<IHasher | undefined> {
  try {
    const hasher = algorithm === 'sha256' ? await createSHA256() : await createSHA512();
    hasher.init();
    if (state) hasher.load(state);
    return hasher;
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
      void hashers.get(id)?.then((hasher) => {
        if (!hasher) return;
        hasher.update(new Uint8Array(message.bytes, 0, message.length));
        port.postMessage({ t: 'ack', id, bytes: message.bytes } satisfies FromWorker, [message.bytes]);
      });
      return;
    case 'close':
      void hashers.get(id)?.then((hasher) => {
        hashers.delete(id);
        if (!hasher || message.want === 'drop') return;
        if (message.want === 'state') reply({ t: 'state', id, state: hasher.save() });
        else reply({ t: 'digest', id, hex: hasher.digest('hex') });
      });
      return;
  }
});
