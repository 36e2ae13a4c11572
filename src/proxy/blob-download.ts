// One upstream download of a blob in this process, and the clients it serves while it runs. The
// bytes go to the store (digest checked there); the client whose GET started the download gets
// them as they come; clients asking meanwhile follow the bytes that went by (fs: the store's
// staging file; S3: a local spool, download-spool.ts), so nobody waits for a whole layer before
// its first byte. Every client's last bytes wait for the store's verdict: a blob the store refuses
// (wrong digest, a break upstream) ends every response short, never complete with bad content.
import type { Writable, Readable } from 'node:stream';
import { BlobNotFoundError } from '../storage/blob-store.js';

/**
 * How often a client following a download looks for new bytes once it has read all there were:
 * ~1 MiB at 100 MiB/s per look (one open and read), not one per 64 KiB the upstream sends (with
 * 20 clients following, that was tens of thousands of opens a second).
 */
const FOLLOW_POLL_MS = 10;

/** The bytes that went by so far, from `start`: BlobNotFoundError once they moved (the blob is stored). */
export type StagedBytes = (start: number) => Promise<Readable>;
/** The stored blob from `start` to its end. */
export type StoredBytes = (start: number) => Promise<AsyncIterable<Buffer>>;

type Outcome = { ok: true } | { ok: false; err: unknown };

export class BlobDownload {
  /** Bytes the upstream announced; undefined until its answer came (or when it sent no length). */
  size: number | undefined;
  /** The client whose GET started the download, fed as the bytes come. */
  client: LiveClient | undefined;
  private staged: StagedBytes | undefined;
  private outcome: Outcome | undefined;
  private readonly waiting = new Set<() => void>();
  private markStarted!: (streaming: boolean) => void;
  /** true once bytes of a known size flow; false when this download ended without. */
  readonly started = new Promise<boolean>((resolve) => (this.markStarted = resolve));

  /** The upstream answered with `size` bytes; clients can join if the bytes that went by are readable (`staged`). */
  begin(size: number | undefined, staged: StagedBytes | undefined): void {
    this.size = size;
    this.staged = staged;
    this.markStarted(size !== undefined);
  }

  /** Whether a client can join: the bytes that went by are readable. */
  get followable(): boolean {
    return this.staged !== undefined;
  }

  /** The store committed the blob (or refused it: `err`). */
  end(err?: unknown): void {
    if (this.outcome) return;
    this.outcome = err === undefined ? { ok: true } : { ok: false, err };
    this.markStarted(false);
    this.wakeAll();
  }

  /** Settles with the store's verdict: resolves once the blob is stored, rejects with why not. */
  async stored(): Promise<void> {
    while (!this.outcome) await this.changed(60_000);
    if (!this.outcome.ok) throw this.outcome.err;
  }

  /**
   * The whole blob for a client that joined after the download started: staged bytes as the store
   * writes them, then (after the commit moved them) the stored blob. The last chunk comes only
   * once the store accepted the blob; a refusal throws.
   */
  async *follow(storedBytes: StoredBytes): AsyncGenerator<Buffer> {
    const size = this.size!;
    const staged = this.staged!;
    let position = 0;
    let held: Buffer | undefined;
    const take = (chunk: Buffer): Buffer | undefined => {
      const part = chunk.length > size - position ? chunk.subarray(0, size - position) : chunk;
      position += part.length;
      return part.length > 0 ? part : undefined;
    };
    while (position < size) {
      let stream: Readable | undefined;
      try {
        stream = await staged(position);
      } catch (err) {
        if (!(err instanceof BlobNotFoundError)) throw err;
      }
      if (stream) {
        try {
          for await (const chunk of stream) {
            const part = take(chunk as Buffer);
            if (!part) break;
            if (position === size) held = part;
            else yield part;
          }
        } finally {
          stream.destroy();
        }
        if (position === size) break;
      }
      if (this.outcome) {
        if (!this.outcome.ok) throw this.outcome.err;
        // Committed: the rest comes from the stored blob.
        for await (const chunk of await storedBytes(position)) {
          const part = take(chunk);
          if (!part) break;
          if (position === size) held = part;
          else yield part;
        }
        if (position < size) throw new Error(`the stored blob ended at ${position} of ${size} bytes`);
        break;
      }
      // Caught up with what went by (or the file is being moved into place): look again shortly.
      await this.changed(FOLLOW_POLL_MS);
    }
    await this.stored();
    if (held) yield held;
  }

  /** Resolves when the download ends, or after `ms`. */
  private changed(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiting.add(done);
    });
  }

  private wakeAll(): void {
    for (const w of [...this.waiting]) w();
  }
}

/**
 * The response of the client whose GET started the download: bytes written as they come, paced to
 * the client (as a pipe would be), dropped if the client leaves; the last chunk held until the
 * store's verdict.
 */
export class LiveClient {
  private gone = false;
  private held: Buffer | undefined;
  private readonly closed: Promise<void>;
  private markOpen!: () => void;
  /** Bytes wait until the response's status and headers are set. */
  private readonly opened = new Promise<void>((resolve) => (this.markOpen = resolve));

  constructor(private readonly res: Writable) {
    this.closed = new Promise((resolve) =>
      res.once('close', () => {
        this.gone = true;
        resolve();
      }),
    );
  }

  /** The response's status and headers are set: bytes may go. */
  open(): void {
    this.markOpen();
  }

  /** Writes `chunk` (the last one is held back); resolves when the client can take more. */
  async send(chunk: Buffer, last: boolean): Promise<void> {
    await this.opened;
    if (this.gone) return;
    if (last) {
      this.held = chunk;
      return;
    }
    if (this.res.write(chunk)) return;
    await Promise.race([new Promise((resolve) => this.res.once('drain', resolve)), this.closed]);
  }

  /** The store accepted the blob: the held bytes and the end. Refused (`err`): the response is cut short. */
  finish(err?: unknown): Promise<void> {
    if (!this.gone) {
      if (err === undefined) this.res.end(this.held);
      else this.res.destroy(err instanceof Error ? err : new Error(String(err)));
    }
    return this.closed;
  }
}
