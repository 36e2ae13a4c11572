// The free-space reserve (BERTH_MIN_FREE_SPACE): below it, new uploads are refused up front with
// 507, so a registry never fills the disk its own database (the embedded PostgreSQL in
// BERTH_DATA_DIR) or its blob directory lives on. statfs is cheap but not free: each directory's
// answer is kept for a second. Before refusing, stale upload sessions are purged once (their
// staged bytes may be what fills the disk), and the refusal is logged once per episode and counted.
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/metrics.js';
import { StorageFullError } from './blob-store.js';

/** The reserve: the larger of a number of bytes and a share of the filesystem's size. */
export interface FreeSpaceReserve {
  bytes: number;
  /** 0–100 */
  percent: number;
}

/** The default: the larger of 1 GiB and 5 % of the filesystem. */
export const DEFAULT_RESERVE: FreeSpaceReserve = { bytes: 1024 ** 3, percent: 5 };

const STATFS_TTL_MS = 1000;
/** Purging stale uploads lists and locks rows: at most this often while space is short. */
const PURGE_EVERY_MS = 30_000;

export interface FilesystemRoom {
  dir: string;
  freeBytes: number;
  reserveBytes: number;
}

export interface FreeSpaceGuardOptions {
  logger: Logger;
  metrics?: Metrics | undefined;
  /** Aborts upload sessions past BERTH_UPLOAD_TTL; resolves with how many went. */
  purgeStale?: (() => Promise<number>) | undefined;
}

/** The part of a path that exists: the blob directory appears only with the first push. */
async function statExisting(dir: string): Promise<{ free: number; total: number }> {
  for (let current = dir; ; current = path.dirname(current)) {
    try {
      const s = await statfs(current);
      return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || path.dirname(current) === current) throw err;
    }
  }
}

export class FreeSpaceGuard {
  private readonly cached = new Map<string, { at: number; room: Promise<FilesystemRoom> }>();
  private lastPurge = 0;
  private short = false;
  private unmeasurable = false;

  constructor(
    /** Directories whose filesystems must keep the reserve (duplicates on one filesystem are harmless). */
    private readonly dirs: readonly string[],
    private readonly reserve: FreeSpaceReserve,
    private readonly options: FreeSpaceGuardOptions,
  ) {}

  get enabled(): boolean {
    return this.dirs.length > 0 && (this.reserve.bytes > 0 || this.reserve.percent > 0);
  }

  private room(dir: string, fresh: boolean): Promise<FilesystemRoom> {
    const hit = this.cached.get(dir);
    if (!fresh && hit && Date.now() - hit.at < STATFS_TTL_MS) return hit.room;
    const room = statExisting(dir).then(({ free, total }) => {
      const reserveBytes = Math.max(this.reserve.bytes, Math.ceil((total * this.reserve.percent) / 100));
      this.options.metrics?.storageFreeBytes.set({ dir }, free);
      this.options.metrics?.storageReserveBytes.set({ dir }, reserveBytes);
      return { dir, freeBytes: free, reserveBytes };
    });
    // A failed statfs is not remembered: the next request asks again.
    room.catch(() => this.cached.delete(dir));
    this.cached.set(dir, { at: Date.now(), room });
    return room;
  }

  /** The filesystems below their reserve right now. */
  private async shortOnes(fresh: boolean): Promise<FilesystemRoom[]> {
    const rooms = await Promise.all(this.dirs.map((dir) => this.room(dir, fresh)));
    return rooms.filter((r) => r.freeBytes < r.reserveBytes);
  }

  /**
   * Resolves when every filesystem has more free space than its reserve; otherwise purges stale
   * uploads (at most every 30 s) and looks again, then throws StorageFullError.
   */
  async check(): Promise<void> {
    if (!this.enabled) return;
    let short: FilesystemRoom[];
    try {
      short = await this.shortOnes(false);
    } catch (err) {
      // Free space that cannot be measured does not stop pushes: the disk, if full, still says so (ENOSPC → 507).
      if (!this.unmeasurable) this.options.logger.warn({ err, dirs: this.dirs }, 'cannot read free space (statfs); the free-space reserve is not enforced');
      this.unmeasurable = true;
      return;
    }
    this.unmeasurable = false;
    if (short.length > 0 && this.options.purgeStale && Date.now() - this.lastPurge >= PURGE_EVERY_MS) {
      this.lastPurge = Date.now();
      const purged = await this.options.purgeStale().catch((err: unknown) => {
        this.options.logger.error({ err }, 'purging stale uploads to free space failed');
        return 0;
      });
      if (purged > 0) {
        this.options.logger.info({ purged }, 'stale uploads aborted to free space');
        short = await this.shortOnes(true);
      }
    }
    if (short.length === 0) {
      if (this.short) this.options.logger.info({ dirs: this.dirs }, 'free space above the reserve again: uploads accepted');
      this.short = false;
      this.options.metrics?.storageBelowReserve.set(0);
      return;
    }
    this.options.metrics?.storageBelowReserve.set(1);
    this.options.metrics?.uploadsRefused.inc({ reason: 'free_space_reserve' });
    if (!this.short) {
      this.options.logger.warn({ filesystems: short }, 'free space below the reserve (BERTH_MIN_FREE_SPACE): refusing new uploads');
    }
    this.short = true;
    const worst = short[0]!;
    throw new StorageFullError(
      `${worst.dir} has ${worst.freeBytes} bytes free, below the reserve of ${worst.reserveBytes} (BERTH_MIN_FREE_SPACE); new uploads are refused until space is freed`,
    );
  }
}

/** The directories that matter: the fs blob directory, and BERTH_DATA_DIR when the embedded PostgreSQL lives there. */
export function reserveDirs(options: { blobRoot: string | undefined; dataDir: string; embeddedPostgres: boolean }): string[] {
  const dirs = options.blobRoot ? [options.blobRoot] : [];
  if (options.embeddedPostgres) dirs.push(options.dataDir);
  return dirs;
}
