// Messages between HashWorkers (main thread) and hash-worker-thread (the workers).

export type ToWorker =
  | { t: 'open'; id: number; algorithm: 'sha256' | 'sha512'; state?: Uint8Array | undefined }
  /** The first `length` bytes of `bytes`, which is transferred, not copied. */
  | { t: 'data'; id: number; bytes: ArrayBuffer; length: number }
  /** Ends the job: answers its state or digest, or nothing for 'drop'. */
  | { t: 'close'; id: number; want: 'state' | 'digest' | 'drop' };

export type FromWorker =
  /** A batch is hashed; its buffer comes back (transferred) for the next batch. */
  | { t: 'ack'; id: number; bytes: ArrayBuffer }
  | { t: 'state'; id: number; state: Uint8Array }
  | { t: 'digest'; id: number; hex: string }
  | { t: 'error'; id: number; message: string };
