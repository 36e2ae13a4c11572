// A local copy of a blob download in progress, kept while it runs so that clients joining it can
// read the bytes that already went by, when the store cannot read its own staged bytes while they
// are written (S3: parts of a multipart upload are readable only after it completes). Removed when
// the download ends; clients still reading go on from the stored blob.
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BatchWriter } from '../storage/batched-write.js';
import { BlobNotFoundError } from '../storage/blob-store.js';

/** Large reads for the clients: the default 64 KiB would make them syscall-bound. */
const READ_CHUNK = 1024 * 1024;
/**
 * A spool file not written for this long was left by a process that ended mid-download (kill -9):
 * removed when the next spool in the directory is created. A live download writes far more often.
 */
const STALE_MS = 60 * 60 * 1000;
/** Directories swept in this process. */
const swept = new Set<string>();

export class DownloadSpool {
  /** A write failed (a full disk): clients joining now wait for the store instead. */
  broken: unknown;
  private readonly writer: BatchWriter;

  private constructor(
    private readonly file: string,
    private readonly handle: FileHandle,
  ) {
    this.writer = new BatchWriter(handle, 0);
  }

  /** A new spool file in `dir` (created if missing). */
  static async create(dir: string): Promise<DownloadSpool> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (!swept.has(dir)) {
      swept.add(dir);
      await removeStale(dir);
    }
    const file = path.join(dir, randomUUID());
    return new DownloadSpool(file, await open(file, 'wx+', 0o600));
  }

  /** Takes the next chunk of the download; resolves when the next may come. Never rejects. */
  async add(chunk: Buffer): Promise<void> {
    if (this.broken !== undefined) return;
    await this.writer.add(chunk).catch((err: unknown) => {
      this.broken = err;
    });
  }

  /** The bytes from `start` to what is written now; BlobNotFoundError once the spool is removed. */
  async read(start: number): Promise<Readable> {
    const handle = await open(this.file, 'r').catch((err: unknown) => {
      throw (err as NodeJS.ErrnoException).code === 'ENOENT' ? new BlobNotFoundError(`spool ${path.basename(this.file)}`) : err;
    });
    return handle.createReadStream({ start, highWaterMark: READ_CHUNK });
  }

  /** The download ended (either way): the file goes; readers holding it open finish their read. */
  async remove(): Promise<void> {
    await this.writer.stop().catch(() => {});
    await this.handle.close().catch(() => {});
    await rm(this.file, { force: true });
  }
}

async function removeStale(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [])) {
    const file = path.join(dir, name);
    const modified = await stat(file).then((s) => s.mtimeMs, () => Date.now());
    if (Date.now() - modified > STALE_MS) await rm(file, { force: true }).catch(() => {});
  }
}
