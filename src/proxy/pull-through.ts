// The pull-through cache: the one place the read path asks "not here — may an upstream have it?".
// Repositories under a BERTH_PROXIES prefix are read-only copies of an upstream registry:
// - a manifest by digest and a blob are immutable: served from the store once fetched;
// - a tag is served from the store while its last upstream check is younger than tagTtl, then
//   revalidated with a HEAD (which Docker Hub does not count as a pull); a moved tag is fetched anew;
// - when the upstream is away (unreachable, timed out, 429, 5xx) a cached copy is served with a
//   `Warning` header; only what was never cached fails, naming the upstream and its answer;
// - what is fetched goes through the normal manifest and upload paths (digest verified, nothing
//   half-visible, quotas, history, webhooks), clients of a blob streaming it while it is stored
//   (blob-download.ts); concurrent pulls share one fetch (single-flight.ts for manifests, one
//   download per blob and process, and an advisory lock across replicas).
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Context } from 'koa';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { ManifestHead, StoredManifest } from '../db/manifests.js';
import { findTagCheck, isReferencedInRepository, markCachedRepository, recordTagCheck, touchCachedRepository } from '../db/proxy-cache.js';
import { findRepositoryId } from '../db/repositories.js';
import { RegistryError } from '../errors/registry-error.js';
import { CONTENT_DIGEST } from '../http/headers.js';
import { chunksAsRead } from '../memory/chunks-as-read.js';
import { parseDigest } from '../registry/digest.js';
import { bareMediaType } from '../registry/media-types.js';
import type { BlobService } from '../services/blobs.js';
import { MAX_MANIFEST_BYTES, parseReference, type ManifestService } from '../services/manifests.js';
import type { UploadService } from '../services/uploads.js';
import { BlobNotFoundError } from '../storage/blob-store.js';
import type { ProxyMetrics } from './proxy-metrics.js';
import type { ProxyConfig } from './settings.js';
import { BlobDownload, LiveClient, type StagedBytes } from './blob-download.js';
import { DownloadSpool } from './download-spool.js';
import { SingleFlight, underReplicaLock } from './single-flight.js';
import { MANIFEST_ACCEPT, UpstreamClient, UpstreamError } from './upstream-client.js';

/** Local repositories remembered as such (mirror requests under their own name); bounded. */
const KNOWN_LOCAL_MAX = 10_000;
/** A pull is recorded at most this often per repository and process (keep periods are days). */
const TOUCH_EVERY_MS = 60_000;

/** What the registry routes ask of the cache. BERTH_PROXIES unset: NO_PULL_THROUGH. */
export interface PullThrough {
  /** The repository a pull of `name` reads: `name`, or the mirror's copy when `name` is no repository here. */
  repositoryFor(name: string): Promise<string>;
  /** Refuses pushes into a cached prefix. */
  assertPushable(name: string): void;
  /**
   * end-3: the manifest (payload for GET, head for HEAD) as `local` reads it, fetched or revalidated
   * upstream first where due.
   */
  manifest(ctx: Context, name: string, reference: string, local: () => Promise<StoredManifest | ManifestHead>): Promise<StoredManifest | ManifestHead>;
  /**
   * end-2 after a BLOB_UNKNOWN (`missed`): rethrows it outside cached prefixes; otherwise fetches
   * the blob. Resolves with the blob's size once stored, or undefined when this request was
   * answered already (the blob streamed to it while being stored).
   */
  blobMissed(ctx: Context, name: string, digestParam: string, missed: unknown): Promise<{ digest: string; size: number } | undefined>;
  /** Where a repository's content comes from, for listings; undefined for the team's own. */
  cacheOf(name: string): ProxyConfig | undefined;
}

/** The do-nothing twin: every name is the team's own. */
export const NO_PULL_THROUGH: PullThrough = {
  repositoryFor: async (name) => name,
  assertPushable: () => {},
  manifest: (_ctx, _name, _reference, local) => local(),
  blobMissed: (_ctx, _name, _digest, missed) => Promise.reject(missed),
  cacheOf: () => undefined,
};

export interface PullThroughDeps {
  pool: pg.Pool;
  /** Connections that hold the cross-replica fetch locks (possibly for a whole layer download). */
  lockPool: pg.Pool;
  manifests: ManifestService;
  blobs: BlobService;
  uploads: UploadService;
  logger: Logger;
  metrics: ProxyMetrics;
  /**
   * Where downloads are spooled for clients that join them, when the store cannot read its staged
   * bytes (S3); unset, those clients wait until the blob is stored.
   */
  spoolDir?: string | undefined;
}

interface Cache {
  config: ProxyConfig;
  client: UpstreamClient;
}

export function createPullThrough(proxies: ProxyConfig[], deps: PullThroughDeps): PullThrough {
  if (proxies.length === 0) return NO_PULL_THROUGH;
  const cached = new CachedPulls(proxies, deps);
  return {
    repositoryFor: (name) => cached.repositoryFor(name),
    assertPushable: (name) => cached.assertPushable(name),
    manifest: (ctx, name, reference, local) => (cached.match(name) ? cached.manifest(ctx, name, reference, local) : local()),
    blobMissed: (ctx, name, digestParam, missed) => cached.blobMissed(ctx, name, digestParam, missed),
    cacheOf: (name) => cached.match(name)?.config,
  };
}

class CachedPulls {
  private readonly caches: Map<string, Cache>;
  private readonly mirror: Cache | undefined;
  private readonly knownLocal = new Set<string>();
  private readonly touched = new Map<string, number>();
  private readonly manifestFlights = new SingleFlight<void>();
  /** Blob downloads running in this process, by `<repository>@<digest>`. */
  private readonly downloads = new Map<string, BlobDownload>();

  constructor(
    proxies: ProxyConfig[],
    private readonly deps: PullThroughDeps,
  ) {
    this.caches = new Map(proxies.map((config) => [config.prefix, { config, client: new UpstreamClient(config) }]));
    this.mirror = [...this.caches.values()].find((c) => c.config.mirror);
  }

  match(name: string): Cache | undefined {
    const slash = name.indexOf('/');
    return slash > 0 ? this.caches.get(name.slice(0, slash)) : undefined;
  }

  async repositoryFor(name: string): Promise<string> {
    if (!this.mirror || this.match(name) || this.knownLocal.has(name)) return name;
    if ((await findRepositoryId(this.deps.pool, name)) !== undefined) {
      if (this.knownLocal.size >= KNOWN_LOCAL_MAX) this.knownLocal.clear();
      this.knownLocal.add(name);
      return name;
    }
    return `${this.mirror.config.prefix}/${name}`;
  }

  assertPushable(name: string): void {
    const cache = this.match(name);
    if (!cache) return;
    throw new RegistryError('DENIED', {
      message: `${cache.config.prefix}/ is a pull-through cache of ${cache.config.upstream}: it is read-only, push elsewhere`,
      detail: { name, upstream: cache.config.upstream },
    });
  }

  /** `hub/alpine` → `library/alpine` on Docker Hub; otherwise the name without the prefix. */
  private upstreamName(cache: Cache, name: string): string {
    const rest = name.slice(cache.config.prefix.length + 1);
    return cache.config.libraryPrefix && !rest.includes('/') ? `library/${rest}` : rest;
  }

  async manifest(ctx: Context, name: string, reference: string, local: () => Promise<StoredManifest | ManifestHead>): Promise<StoredManifest | ManifestHead> {
    const cache = this.match(name)!;
    this.touch(name);
    const ref = parseReference(reference);
    const found = await orMissing(local);
    if (ref.kind === 'digest') {
      if (found) return found;
      await this.manifestFlights
        .run(`${name}@${ref.digest}`, () =>
          underReplicaLock(this.deps.lockPool, `manifest:${name}@${ref.digest}`, async () => {
            if (await orMissing(() => this.deps.manifests.head(name, ref.digest))) return;
            await this.fetchManifest(cache, name, ref.digest);
          }),
        )
        .catch((err: unknown) => {
          throw this.clientError(cache, err, 'MANIFEST_UNKNOWN', { name, reference });
        });
      return local();
    }
    if (found) {
      const check = await findTagCheck(this.deps.pool, name, ref.tag);
      if (check && check.digest === found.digest && check.ageMs < cache.config.tagTtlMs) return found;
    }
    try {
      await this.manifestFlights.run(`${name}:${ref.tag}`, () =>
        underReplicaLock(this.deps.lockPool, `tag:${name}:${ref.tag}`, () => this.revalidateTag(cache, name, ref.tag)),
      );
    } catch (err) {
      if (!found || !(err instanceof UpstreamError)) throw this.clientError(cache, err, 'MANIFEST_UNKNOWN', { name, reference });
      this.servedStale(ctx, cache, name, reference, err);
      return found;
    }
    return local();
  }

  /** Under the tag's lock: asks the upstream only if nobody refreshed the tag meanwhile. */
  private async revalidateTag(cache: Cache, name: string, tag: string): Promise<void> {
    const current = await orMissing(() => this.deps.manifests.head(name, tag));
    if (current) {
      const check = await findTagCheck(this.deps.pool, name, tag);
      if (check && check.digest === current.digest && check.ageMs < cache.config.tagTtlMs) return;
      const answer = await this.upstreamRequest(cache, 'HEAD', name, `manifests/${tag}`, MANIFEST_ACCEPT);
      const digest = answer.headers.get('docker-content-digest');
      if (digest === current.digest) {
        await recordTagCheck(this.deps.pool, (await findRepositoryId(this.deps.pool, name))!, tag, digest);
        return;
      }
      this.deps.logger.info({ repository: name, tag, from: current.digest, to: digest ?? undefined, upstream: cache.config.upstream }, 'cached tag moved upstream');
    }
    await this.fetchManifest(cache, name, tag);
  }

  /** GETs a manifest from the upstream and stores it (tagged when `reference` is a tag). */
  private async fetchManifest(cache: Cache, name: string, reference: string): Promise<void> {
    const answer = await this.upstreamRequest(cache, 'GET', name, `manifests/${reference}`, MANIFEST_ACCEPT);
    const payload = await readAtMost(answer.body!, MAX_MANIFEST_BYTES, cache.config.upstream);
    const ref = parseReference(reference);
    const result = await this.deps.manifests.put(
      name,
      reference,
      payload,
      bareMediaType(answer.headers.get('content-type') ?? undefined),
      [],
      { actor: `upstream:${cache.config.prefix}`, userAgent: 'berth-pull-through' },
      // Layers come when a client asks for them; the manifest is stored first.
      { sparse: true },
    );
    const repositoryId = (await findRepositoryId(this.deps.pool, name))!;
    await markCachedRepository(this.deps.pool, repositoryId, cache.config.prefix, cache.config.upstream);
    if (ref.kind === 'tag') await recordTagCheck(this.deps.pool, repositoryId, ref.tag, result.digest);
    this.deps.metrics.cached.inc({ prefix: cache.config.prefix, kind: 'manifest' });
  }

  async blobMissed(ctx: Context, name: string, digestParam: string, missed: unknown, retry = true): Promise<{ digest: string; size: number } | undefined> {
    const cache = this.match(name);
    if (!cache || !(missed instanceof RegistryError) || missed.code !== 'BLOB_UNKNOWN') throw missed;
    const { digest } = parseDigest(digestParam);
    this.touch(name);
    // Only what a cached manifest of this repository names is fetched (clients read the manifest
    // first): the cache is no way to pull arbitrary blobs, and a manifest refused (a quota) brings none.
    if (!(await isReferencedInRepository(this.deps.pool, name, digest))) throw missed;
    // Stored already (another image or prefix has the layer): a link will do.
    if (await this.deps.uploads.mount(name, digest, undefined, 'all')) return this.deps.blobs.stat(name, digest);
    const key = `${name}@${digest}`;
    // A whole-blob GET streams: the one that starts the download as the bytes come, later ones from
    // the bytes that went by (the staged file on fs, a spool on S3). HEADs, ranges and clients of
    // other replicas are answered from the store once it holds the blob.
    const wholeGet = ctx.method === 'GET' && !ctx.get('Range');
    let download = this.downloads.get(key);
    let live: LiveClient | undefined;
    if (!download) {
      download = this.startDownload(cache, name, digest, key);
      if (wholeGet) download.client = live = new LiveClient(ctx.res);
    }
    try {
      const streams = wholeGet && (await download.started) && (live !== undefined || download.followable);
      if (!streams) {
        await download.stored();
        return this.deps.blobs.stat(name, digest);
      }
    } catch (err) {
      // A follower whose leader's download broke off asks once more, as a download of its own.
      if (!live && err instanceof UpstreamError && err.brokeOff && retry) return this.blobMissed(ctx, name, digestParam, missed, false);
      throw this.clientError(cache, err, 'BLOB_UNKNOWN', { digest });
    }
    const size = download.size!;
    ctx.status = 200;
    ctx.set(CONTENT_DIGEST, digest);
    ctx.set('Content-Type', 'application/octet-stream');
    ctx.set('Docker-Distribution-API-Version', 'registry/2.0');
    ctx.set('Content-Length', String(size));
    // Past this point Koa writes nothing; a failed download cuts the response short.
    ctx.respond = false;
    if (live) {
      live.open();
      await download.stored().then(
        () => live.finish(),
        (err: unknown) => live.finish(err),
      );
      return undefined;
    }
    const stored = async (start: number) => (await this.deps.blobs.read(digest, { range: { start, end: size - 1 }, size })).stream();
    await pipeline(download.follow(stored), ctx.res).catch((err: unknown) =>
      this.deps.logger.debug({ err, repository: name, digest }, 'a client following a pull-through download was cut short'),
    );
    return undefined;
  }

  /** Runs the download of a blob (once per process, under the replica lock); it is known here until it ends. */
  private startDownload(cache: Cache, name: string, digest: string, key: string): BlobDownload {
    const download = new BlobDownload();
    this.downloads.set(key, download);
    // Forgotten before its clients hear the outcome: one that asks again starts a new download.
    const forget = () => {
      if (this.downloads.get(key) === download) this.downloads.delete(key);
    };
    underReplicaLock(this.deps.lockPool, `blob:${key}`, () => this.fetchBlob(cache, name, digest, download)).then(
      () => {
        forget();
        download.end();
      },
      (err: unknown) => {
        forget();
        download.end(err);
        this.deps.logger.warn({ err, repository: name, digest, upstream: cache.config.upstream }, 'pull-through blob was not stored');
      },
    );
    return download;
  }

  /**
   * Under the blob's lock: downloads it unless someone stored it meanwhile. The bytes go to the
   * store and, as they come, to the client that started the download (`download.client`); where
   * the store cannot read its staged bytes, also to a spool for clients that join.
   */
  private async fetchBlob(cache: Cache, name: string, digest: string, download: BlobDownload): Promise<void> {
    if (await orMissing(() => this.deps.blobs.stat(name, digest))) return;
    const answer = await this.upstreamRequest(cache, 'GET', name, `blobs/${digest}`);
    const length = answer.headers.get('content-length');
    const size = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
    const source = answer.body!;
    // Reading starts only once the upload has done its database work; a break upstream before that
    // (a reset after the first bytes) must find a listener or it is thrown as an uncaught 'error'
    // and ends the process. The reader sees the error all the same (finished() reports it).
    source.on('error', () => {});
    // Without a length nobody can be told how much comes: clients wait for the store.
    const client = size !== undefined ? download.client : undefined;
    const spool = size !== undefined && !this.deps.uploads.canReadStaged ? await this.openSpool() : undefined;
    let received = 0;
    let broken: unknown;
    async function* toStore(): AsyncGenerator<Buffer> {
      try {
        for await (const chunk of chunksAsRead(source)) {
          received += chunk.length;
          await spool?.add(chunk);
          // The client that started the download sets its pace, as a pipe would. More than
          // announced goes to the store only, which refuses it; the client is then cut short.
          if (client && received <= size!) await client.send(chunk, received === size);
          yield chunk;
        }
      } catch (err) {
        broken = err;
        throw err;
      }
    }
    const staged = (uploadId: string): StagedBytes | undefined => {
      if (spool) return (start) => (spool.broken === undefined ? spool.read(start) : Promise.reject(new BlobNotFoundError('spool')));
      return this.deps.uploads.canReadStaged ? (start) => this.deps.uploads.readStaged(uploadId, start) : undefined;
    };
    try {
      await this.deps.uploads.uploadWhole(name, digest, { stream: toStore(), length: size }, (uploadId) => download.begin(size, staged(uploadId)));
    } catch (err) {
      // Refused before reading it all (or at all): the upstream connection goes.
      source.on('error', () => {}).destroy();
      if (err instanceof RegistryError && err.code === 'DIGEST_INVALID') {
        throw new UpstreamError(cache.config.upstream, undefined, `${cache.config.upstream} sent bytes that do not match ${digest}`);
      }
      if (broken === undefined) throw err;
      throw new UpstreamError(cache.config.upstream, undefined, `${cache.config.upstream} broke off the blob download: ${String((broken as Error).message ?? broken)}`, undefined, true);
    } finally {
      await spool?.remove();
    }
    this.deps.metrics.cached.inc({ prefix: cache.config.prefix, kind: 'blob' });
  }

  /** A spool for clients joining a download, or undefined (they then wait for the store). */
  private async openSpool(): Promise<DownloadSpool | undefined> {
    if (!this.deps.spoolDir) return undefined;
    try {
      return await DownloadSpool.create(this.deps.spoolDir);
    } catch (err) {
      this.deps.logger.warn({ err, dir: this.deps.spoolDir }, 'no spool for a pull-through download: clients joining it wait until it is stored');
      return undefined;
    }
  }

  private async upstreamRequest(cache: Cache, method: 'GET' | 'HEAD', name: string, path: string, accept?: string) {
    const upstreamName = this.upstreamName(cache, name);
    try {
      const answer = await cache.client.request(method, upstreamName, path, { accept });
      this.deps.metrics.upstreamRequests.inc({ prefix: cache.config.prefix, method, outcome: String(answer.status) });
      return answer;
    } catch (err) {
      const outcome = err instanceof UpstreamError && err.status !== undefined ? String(err.status) : 'unreachable';
      this.deps.metrics.upstreamRequests.inc({ prefix: cache.config.prefix, method, outcome });
      throw err;
    }
  }

  private servedStale(ctx: Context, cache: Cache, name: string, reference: string, err: UpstreamError): void {
    const reason = err.status === undefined ? 'unreachable' : String(err.status);
    ctx.set('Warning', `110 berth "Response is Stale: ${err.message.replace(/["\\]/g, '')}"`);
    this.deps.metrics.staleServed.inc({ prefix: cache.config.prefix, reason });
    this.deps.logger.warn({ repository: name, reference, upstream: cache.config.upstream, upstreamStatus: err.status ?? null, reason: err.message }, 'served a cached tag the upstream could not confirm');
  }

  /** An upstream failure for content never cached: what the client sees, naming the upstream. */
  private clientError(cache: Cache, err: unknown, notFound: 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN', detail: Record<string, string>): unknown {
    if (!(err instanceof UpstreamError)) return err;
    const upstream = cache.config.upstream;
    const full = { ...detail, upstream, upstreamStatus: err.status ?? null };
    if (err.status === 404) return new RegistryError(notFound, { message: `not cached, and ${upstream} does not have it (404)`, detail: full });
    const retry = err.retryAfter && /^\d{1,6}$/.test(err.retryAfter) ? err.retryAfter : '30';
    if (err.status === 429) {
      return new RegistryError('TOOMANYREQUESTS', { message: `not cached, and ${upstream} is rate-limiting (429)`, detail: full, headers: { 'Retry-After': retry } });
    }
    return new RegistryError('UNAVAILABLE', { message: `not cached, and the upstream failed: ${err.message}`, detail: full, headers: { 'Retry-After': retry }, cause: err });
  }

  private touch(name: string): void {
    const now = Date.now();
    if (now - (this.touched.get(name) ?? 0) < TOUCH_EVERY_MS) return;
    if (this.touched.size >= KNOWN_LOCAL_MAX) this.touched.clear();
    this.touched.set(name, now);
    touchCachedRepository(this.deps.pool, name).catch((err: unknown) => this.deps.logger.debug({ err, repository: name }, 'could not record a pull'));
  }
}

/** The lookup's result, or undefined on MANIFEST_UNKNOWN / NAME_UNKNOWN / BLOB_UNKNOWN. */
async function orMissing<T>(lookup: () => Promise<T>): Promise<T | undefined> {
  try {
    return await lookup();
  } catch (err) {
    if (err instanceof RegistryError && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN' || err.code === 'BLOB_UNKNOWN')) return undefined;
    throw err;
  }
}

async function readAtMost(body: Readable, limit: number, upstream: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      body.on('error', () => {}).destroy();
      throw new UpstreamError(upstream, 502, `${upstream} sent a manifest over ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}
