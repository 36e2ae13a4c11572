// Resumable digests computed on worker threads, where the native module (native-sha.ts) was not
// built or a hash-wasm state is to be continued. A digest whose state can be saved (hash-wasm) runs
// at about a tenth of OpenSSL's speed; on the thread that receives the bytes it held a whole S3
// push to that pace (the bench when it moved here: a one-PATCH push at 0.41 of the SDK's speed).
// On a worker it runs beside the receiving and the part uploads. Bytes go over in 1 MiB batches, transferred
// rather than copied and handed back with the acknowledgement for the next batch, and at most
// MAX_IN_FLIGHT batches of one upload wait: memory stays flat and no garbage piles up.
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { BufferPool } from '../memory/buffer-pool.js';
import type { DigestAlgorithm } from '../registry/digest.js';
import type { FromWorker, ToWorker } from './hash-worker-protocol.js';
import type { RunningDigest } from './running-digest.js';

const BATCH = 1024 * 1024;
const MAX_IN_FLIGHT = 3;
/** Batch buffers the workers handed back, reused by every upload (2 MiB at most). */
const spareBatches = new BufferPool(2);

const here = fileURLToPath(import.meta.url);
const WORKER_FILE = here.replace(/hash-workers\.(ts|js)$/, 'hash-worker-thread.$1');

/** Under tsx (the tests) this module is TypeScript, and so is its worker, which needs tsx too. */
function newWorker(): Worker {
  // The worker holds a hasher per upload and batches in passing: a small young generation is plenty.
  const resourceLimits = { maxYoungGenerationSizeMb: 2 };
  if (!WORKER_FILE.endsWith('.ts')) return new Worker(WORKER_FILE, { resourceLimits });
  const url = JSON.stringify(pathToFileURL(WORKER_FILE).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${url}); })`, { eval: true, resourceLimits });
}

interface JobListener {
  onAck(bytes: ArrayBuffer): void;
  onResult(result: { hex?: string; state?: Uint8Array }): void;
  onError(err: Error): void;
}

/** One worker thread, started on first use and again after it died. */
class HashThread {
  private worker: Worker | undefined;
  private readonly jobs = new Map<number, JobListener>();

  post(message: ToWorker, transfer?: ArrayBuffer[]): void {
    this.start().postMessage(message, transfer);
  }

  listen(id: number, listener: JobListener): void {
    this.jobs.set(id, listener);
    this.start().ref();
  }

  forget(id: number): void {
    this.jobs.delete(id);
    // An idle worker must not keep a stopping process alive; one with work must.
    if (this.jobs.size === 0) this.worker?.unref();
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = newWorker();
    worker.on('message', (message: FromWorker) => {
      const job = this.jobs.get(message.id);
      if (!job) return;
      if (message.t === 'ack') job.onAck(message.bytes);
      else if (message.t === 'error') job.onError(new Error(`hash worker: ${message.message}`));
      else job.onResult(message.t === 'digest' ? { hex: message.hex } : { state: message.state });
    });
    const fail = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const job of this.jobs.values()) job.onError(err);
      this.jobs.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`hash worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }
}

class WorkerDigest implements RunningDigest, JobListener {
  private batch: Buffer | null = null;
  private length = 0;
  private inFlight = 0;
  private waiting: { resolve: () => void; reject: (err: Error) => void } | null = null;
  private result: { resolve: (r: { hex?: string; state?: Uint8Array }) => void; reject: (err: Error) => void } | null = null;
  private failure: Error | undefined;
  private closed = false;

  constructor(
    private readonly thread: HashThread,
    private readonly id: number,
  ) {}

  update(chunk: Buffer): void | Promise<void> {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error('digest already finished');
    let at = 0;
    while (at < chunk.length) {
      this.batch ??= spareBatches.take(BATCH);
      const n = chunk.copy(this.batch, this.length, at);
      this.length += n;
      at += n;
      if (this.length === BATCH) this.send();
    }
    if (this.inFlight < MAX_IN_FLIGHT) return;
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  async finish(): Promise<string> {
    const { hex } = await this.close('digest');
    return hex!;
  }

  async save(): Promise<Buffer> {
    const { state } = await this.close('state');
    return Buffer.from(state!);
  }

  dispose(): void {
    if (this.closed || this.failure) return;
    this.closed = true;
    this.thread.forget(this.id);
    this.thread.post({ t: 'close', id: this.id, want: 'drop' });
  }

  onAck(bytes: ArrayBuffer): void {
    this.inFlight -= 1;
    spareBatches.giveBack(Buffer.from(bytes));
    if (this.waiting && this.inFlight < MAX_IN_FLIGHT) {
      const { resolve } = this.waiting;
      this.waiting = null;
      resolve();
    }
  }

  onResult(result: { hex?: string; state?: Uint8Array }): void {
    this.thread.forget(this.id);
    this.result?.resolve(result);
  }

  onError(err: Error): void {
    this.failure = err;
    this.thread.forget(this.id);
    this.waiting?.reject(err);
    this.result?.reject(err);
    this.waiting = this.result = null;
  }

  private send(): void {
    if (this.length === 0) return;
    const bytes = this.batch!.buffer as ArrayBuffer;
    this.thread.post({ t: 'data', id: this.id, bytes, length: this.length }, [bytes]);
    this.inFlight += 1;
    this.batch = null;
    this.length = 0;
  }

  private close(want: 'state' | 'digest'): Promise<{ hex?: string; state?: Uint8Array }> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('digest already finished'));
    this.closed = true;
    this.send();
    return new Promise((resolve, reject) => {
      this.result = { resolve, reject };
      this.thread.post({ t: 'close', id: this.id, want });
    });
  }
}

/** A pool of hash threads; an upload's digest stays on the thread it was opened on. */
export class HashWorkers {
  private readonly threads: HashThread[];
  private next = 0;
  private lastId = 0;

  constructor(size = Math.max(1, Math.min(4, availableParallelism() - 1))) {
    this.threads = Array.from({ length: size }, () => new HashThread());
  }

  /** A resumable digest, fresh or continued from a saved state. */
  open(algorithm: DigestAlgorithm, saved?: Buffer): RunningDigest {
    const thread = this.threads[this.next++ % this.threads.length]!;
    const id = ++this.lastId;
    const digest = new WorkerDigest(thread, id);
    thread.listen(id, digest);
    thread.post({ t: 'open', id, algorithm, state: saved ? new Uint8Array(saved) : undefined });
    return digest;
  }

  async stop(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.stop()));
  }
}
