// The filesystem blob store: blobs at <root>/<algorithm>/<first two hex>/<hex>, uploads staged at
// <root>/_uploads/<uploadId>. A commit is a rename, so a blob path only ever holds whole content.
import { createReadStream } from 'node:fs';
import { access, constants, mkdir, open, rename, rm, stat, truncate, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { tryParseDigest } from '../../registry/digest.js';
import { writeInBatches } from '../batched-write.js';
import { listFsBlobs } from './list-blobs.js';
import { BlobNotFoundError, isNoSpace, StorageFullError, StorageUnavailableError, type BlobContent, type BlobStore, type PutBlobOptions, type ReadOptions, type StoredObject, type UploadBackendState } from '../blob-store.js';
import { sendFile } from './send-file.js';
import { StagedFlushes } from './staged-flush.js';

/** Large reads: the default 64 KiB stream chunk makes pulls syscall-bound. */
const READ_CHUNK = 1024 * 1024;
const UPLOAD_ID = /^[0-9a-f-]{36}$/;

/** BERTH_STORAGE=fs: the directory blobs and staged uploads live in (`<BERTH_DATA_DIR>/blobs`). */
export interface FsStoreConfig {
  root: string;
}

/** The fs driver's entry point. */
export function createFsBlobStore(config: FsStoreConfig): BlobStore {
  return new FsBlobStore(config.root);
}

export class FsBlobStore implements BlobStore {
  readonly stagedReadsAreCheap: boolean = true;
  private readonly flushes = new StagedFlushes();

  constructor(private readonly root: string) {}

  /** Only digests this registry verifies ever become paths, so no name can escape the root. */
  blobPath(digest: string): string {
    const parsed = tryParseDigest(digest);
    if (!parsed) throw new Error(`refusing to map an invalid digest to a path: ${digest.slice(0, 200)}`);
    return path.join(this.root, parsed.algorithm, parsed.hex.slice(0, 2), parsed.hex);
  }

  private uploadPath(uploadId: string): string {
    if (!UPLOAD_ID.test(uploadId)) throw new Error(`invalid upload id: ${uploadId.slice(0, 100)}`);
    return path.join(this.root, '_uploads', uploadId);
  }

  async ping(): Promise<void> {
    try {
      // The root appears with the first push; before that, creating it is the check.
      await mkdir(this.root, { recursive: true });
      await access(this.root, constants.R_OK | constants.W_OK);
    } catch (err) {
      throw new StorageUnavailableError(`blob directory ${this.root} is not usable: ${(err as Error).message}`, 5, { cause: err });
    }
  }

  async stat(digest: string): Promise<{ size: number } | undefined> {
    try {
      return { size: (await stat(this.blobPath(digest))).size };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async openFile(digest: string): Promise<FileHandle> {
    // Opening first turns a missing file into BlobNotFoundError before any header is sent.
    return open(this.blobPath(digest), 'r').catch((err: unknown) => {
      throw isNotFound(err) ? new BlobNotFoundError(digest) : err;
    });
  }

  /** The open file, sent without a stream (send-file.ts) or streamed in large reads. */
  async read(digest: string, options: ReadOptions = {}): Promise<BlobContent> {
    const { range, signal } = options;
    const handle = await this.openFile(digest);
    let length: number;
    try {
      length = range ? range.end - range.start + 1 : (options.size ?? (await handle.stat()).size);
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
    return {
      length,
      via: 'file',
      sendTo: (out) => sendFile(out, handle, range?.start ?? 0, length),
      stream: () => handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: READ_CHUNK, signal }),
      cancel: () => void handle.close().catch(() => {}),
    };
  }

  async delete(digest: string): Promise<void> {
    // One unlink (rm would lstat first): garbage collection deletes blobs by the thousand.
    await unlink(this.blobPath(digest)).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }

  /** Directories known to exist: each is created once per process, not once per blob. */
  private readonly madeDirs = new Set<string>();

  private async ensureDir(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.madeDirs.add(dir);
  }

  async createUpload(uploadId: string): Promise<UploadBackendState> {
    try {
      await this.ensureDir(path.join(this.root, '_uploads'));
      const handle = await open(this.uploadPath(uploadId), 'w');
      await handle.close();
    } catch (err) {
      throw this.noSpace(err, 'creating an upload');
    }
    return null;
  }

  /**
   * A full disk (ENOSPC, EDQUOT) as StorageFullError, naming the directory; other errors as they
   * are. The caller has released what the failed request staged.
   */
  private noSpace(err: unknown, doing: string): unknown {
    if (!isNoSpace(err)) return err;
    const code = (err as NodeJS.ErrnoException).code;
    return new StorageFullError(`no space left in ${this.root} while ${doing} (${code})`, { cause: err });
  }

  async appendUpload(
    uploadId: string,
    chunks: AsyncIterable<Buffer>,
    options: { offset: number; state: UploadBackendState; signal?: AbortSignal },
  ): Promise<{ written: number; state: UploadBackendState }> {
    const file = this.uploadPath(uploadId);
    await truncate(file, options.offset).catch((err: unknown) => {
      throw isNotFound(err) ? new BlobNotFoundError(`upload ${uploadId}`) : err;
    });
    try {
      const handle = await open(file, 'r+');
      try {
        const written = await this.writeStaged(uploadId, file, handle, options.offset, chunks, options.signal);
        return { written, state: null };
      } finally {
        await handle.close();
      }
    } catch (err) {
      // Whatever this request wrote goes at once (the next append would drop it anyway): on a
      // full disk those bytes are what the database and other pushes need.
      await truncate(file, options.offset).catch(() => {});
      throw this.noSpace(err, 'writing an upload chunk');
    }
  }

  /**
   * Writes `chunks` to the staging file from `offset`, telling the background flusher as the bytes
   * reach the file: a flush started now covers what was written so far. Resolves with the number
   * of bytes written.
   */
  private async writeStaged(uploadId: string, file: string, handle: FileHandle, offset: number, chunks: AsyncIterable<Buffer>, signal: AbortSignal | undefined): Promise<number> {
    const flushes = this.flushes;
    flushes.rewound(uploadId, offset);
    return writeInBatches(handle, offset, chunks, (end) => flushes.wrote(uploadId, file, end), signal);
  }

  async readUpload(uploadId: string, options: { length: number }): Promise<Readable> {
    const file = this.uploadPath(uploadId);
    if (options.length === 0) return Readable.from([]);
    return createReadStream(file, { start: 0, end: options.length - 1, highWaterMark: READ_CHUNK });
  }

  async readStaged(uploadId: string, start: number): Promise<Readable> {
    const handle = await open(this.uploadPath(uploadId), 'r').catch((err: unknown) => {
      throw isNotFound(err) ? new BlobNotFoundError(`upload ${uploadId}`) : err;
    });
    // Read on the handle, the bytes stay readable after a commit renames the file.
    return handle.createReadStream({ start, highWaterMark: READ_CHUNK });
  }

  async commitUpload(uploadId: string, digest: string, options: { size: number }): Promise<void> {
    const staged = this.uploadPath(uploadId);
    const target = this.blobPath(digest);
    // Whatever a background flush already took to disk, this fdatasync does not write again.
    await this.flushes.settle(uploadId);
    const handle = await open(staged, 'r+').catch((err: unknown) => {
      throw isNotFound(err) ? new BlobNotFoundError(`upload ${uploadId}`) : err;
    });
    try {
      // Bytes past `size` may be left by an interrupted append; they are not part of the blob.
      await handle.truncate(options.size);
      await handle.datasync();
    } catch (err) {
      throw this.noSpace(err, 'committing an upload');
    } finally {
      await handle.close();
    }
    await this.moveIntoPlace(staged, target).catch((err: unknown) => {
      throw this.noSpace(err, 'committing an upload');
    });
  }

  /** Always: putBlob needs nothing but the upload's staging file. */
  async canPutBlob(): Promise<boolean> {
    return true;
  }

  /**
   * The upload's staging file, emptied, takes the whole blob in one pass and is renamed into place
   * once `verify` passed and the bytes are on disk: five file operations where an append and a
   * commit take nine (truncate, open, write, close; open, truncate, fdatasync, close, rename),
   * which is most of what a small blob costs.
   */
  async putBlob(digest: string, chunks: AsyncIterable<Buffer>, options: PutBlobOptions): Promise<number> {
    const { uploadId } = options;
    const staged = this.uploadPath(uploadId);
    const target = this.blobPath(digest);
    // O_TRUNC without O_CREAT: a cancelled upload (its file removed) fails here, as an append would.
    const handle = await open(staged, constants.O_RDWR | constants.O_TRUNC).catch((err: unknown) => {
      throw isNotFound(err) ? new BlobNotFoundError(`upload ${uploadId}`) : err;
    });
    let written: number;
    try {
      try {
        written = await this.writeStaged(uploadId, staged, handle, 0, chunks, options.signal);
        // On disk before the rename (for a file just written, fsync and fdatasync write the same).
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await options.verify(written);
      await this.flushes.settle(uploadId);
      await this.moveIntoPlace(staged, target);
    } catch (err) {
      // The upload was empty before this request: a failed one leaves it empty, not holding its bytes.
      await truncate(staged, 0).catch(() => {});
      throw this.noSpace(err, 'writing a blob');
    }
    return written;
  }

  /**
   * Renames a finished staging file to its content address. Replacing an existing copy is
   * harmless: same digest, same bytes, and readers holding the old file keep reading it.
   */
  private async moveIntoPlace(staged: string, target: string): Promise<void> {
    await this.ensureDir(path.dirname(target));
    await rename(staged, target).catch(async (err: unknown) => {
      if (!isNotFound(err)) throw err;
      // The directory was removed behind our back (a clean-up): make it again, once.
      this.madeDirs.delete(path.dirname(target));
      await this.ensureDir(path.dirname(target));
      await rename(staged, target);
    });
  }

  async abortUpload(uploadId: string): Promise<void> {
    this.flushes.forget(uploadId);
    await rm(this.uploadPath(uploadId), { force: true });
  }

  listBlobs(): AsyncIterable<StoredObject> {
    return listFsBlobs(this.root);
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}
