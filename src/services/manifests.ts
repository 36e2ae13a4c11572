// Manifests (end-3, end-7, end-9): validated on push, stored verbatim, tagged in the same
// transaction that records the tag's history.
import type pg from 'pg';
import { lockLinkedDigests } from '../db/blobs.js';
import { existingBlobDigests } from '../db/gc.js';
import {
  deleteManifest,
  lockExistingManifestDigests,
  findManifestHeadsByDigest,
  findManifestHeadsByTag,
  findManifestsByDigest,
  findManifestsByTag,
  insertManifest,
  type ManifestHead,
  type ManifestKey,
  type StoredManifest,
} from '../db/manifests.js';
import { lookupKeyIdentity } from '../db/lookup-keys.js';
import { withTransaction } from '../db/pool.js';
import { findRepositoryId } from '../db/repositories.js';
import { listTagsOfManifest, removeTag, setTag, type TagChange, type TagChangeContext } from '../db/tags.js';
import { RegistryError } from '../errors/registry-error.js';
import { digestOf, looksLikeDigest, parseDigest, type DigestAlgorithm } from '../registry/digest.js';
import { ImmutableTags } from '../registry/immutable-tags.js';
import { parseManifest } from '../registry/manifest.js';
import { isValidTag } from '../registry/names.js';
import { silentNotifier, type Notifier, type RegistryEvent, type RequestInfo } from '../notify/notifier.js';

/** A tag change as routes describe it, plus the request for notifications. */
export type ManifestChange = TagChangeContext & { request?: RequestInfo | undefined };
import { Quotas } from '../registry/quotas.js';
import { LookupBatcher, type BatchLookup } from './lookup-batcher.js';
import { assertWithinQuota } from './quota-check.js';
import { RepositoryIds } from './repository-ids.js';

/** The spec asks registries to accept manifests of at least 4 MiB; larger ones get 413. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export type Reference = { kind: 'digest'; digest: string; algorithm: DigestAlgorithm } | { kind: 'tag'; tag: string };

/** A reference is a digest when it has a colon (tags cannot), a tag otherwise. */
export function parseReference(reference: string): Reference {
  if (looksLikeDigest(reference)) {
    const { digest, algorithm } = parseDigest(reference);
    return { kind: 'digest', digest, algorithm };
  }
  if (!isValidTag(reference)) {
    throw new RegistryError('MANIFEST_INVALID', { message: 'invalid tag', detail: { tag: reference.slice(0, 200) } });
  }
  return { kind: 'tag', tag: reference };
}

export interface PutManifestResult {
  digest: string;
  subject: string | null;
  tags: string[];
}

export interface ManifestPolicy {
  /**
   * Accept manifests whose layers, config or index children are not in the repository (the
   * spec's MAY; e.g. a platform-filtered copy of an index). Off: MANIFEST_BLOB_UNKNOWN.
   */
  sparse: boolean;
  /** BERTH_IMMUTABLE_TAGS: tags that may be created but never moved or deleted. */
  immutableTags?: ImmutableTags;
  /** BERTH_QUOTAS: a push that would take a rule's repositories past their allowance is DENIED. */
  quotas?: Quotas;
}

/** Reads by tag and by digest, batched per turn of the event loop (see lookup-batcher.ts). */
class ManifestLookups<T> {
  readonly byTag: LookupBatcher<ManifestKey, T>;
  readonly byDigest: LookupBatcher<ManifestKey, T>;

  constructor(byTag: BatchLookup<ManifestKey, T>, byDigest: BatchLookup<ManifestKey, T>) {
    this.byTag = new LookupBatcher(byTag, lookupKeyIdentity);
    this.byDigest = new LookupBatcher(byDigest, lookupKeyIdentity);
  }
}

export class ManifestService {
  private readonly immutable: ImmutableTags;
  private readonly repositoryIds = new RepositoryIds();
  private readonly manifests: ManifestLookups<StoredManifest>;
  private readonly heads: ManifestLookups<ManifestHead>;

  constructor(
    private readonly pool: pg.Pool,
    private readonly policy: ManifestPolicy = { sparse: false },
    /** Told about pushes, tag changes and deletes once they are committed. */
    private readonly notifier: Notifier = silentNotifier,
  ) {
    this.immutable = policy.immutableTags ?? new ImmutableTags();
    this.manifests = new ManifestLookups((keys) => findManifestsByTag(pool, keys), (keys) => findManifestsByDigest(pool, keys));
    this.heads = new ManifestLookups((keys) => findManifestHeadsByTag(pool, keys), (keys) => findManifestHeadsByDigest(pool, keys));
  }

  async get(repository: string, reference: string): Promise<StoredManifest> {
    return this.find(repository, reference, this.manifests);
  }

  /** As get(), without reading the payload: what a HEAD answers. */
  async head(repository: string, reference: string): Promise<ManifestHead> {
    return this.find(repository, reference, this.heads);
  }

  private async find<T>(repository: string, reference: string, lookups: ManifestLookups<T>): Promise<T> {
    const ref = parseReference(reference);
    const found =
      ref.kind === 'digest'
        ? await lookups.byDigest.load({ repository, reference: ref.digest })
        : await lookups.byTag.load({ repository, reference: ref.tag });
    return found ?? this.missing(repository, reference);
  }

  /** Only on a miss: tells an unknown repository apart from an unknown manifest. */
  private async missing(repository: string, reference: string): Promise<never> {
    if ((await findRepositoryId(this.pool, repository)) === undefined) {
      throw new RegistryError('NAME_UNKNOWN', { detail: { name: repository } });
    }
    throw new RegistryError('MANIFEST_UNKNOWN', { detail: { reference } });
  }

  /** end-7 (and multi-tag push): `extraTags` are the `?tag=` parameters of a push by digest. */
  async put(
    repository: string,
    reference: string,
    payload: Buffer,
    contentType: string | undefined,
    extraTags: string[],
    change: ManifestChange,
    /** `sparse`: this push may reference content the repository lacks (a pull-through cache stores manifests first). */
    options: { sparse?: boolean } = {},
  ): Promise<PutManifestResult> {
    const ref = parseReference(reference);
    const tags = [...new Set([...(ref.kind === 'tag' ? [ref.tag] : []), ...extraTags])];
    for (const tag of tags) parseReference(tag);
    if (extraTags.some(looksLikeDigest)) throw new RegistryError('MANIFEST_INVALID', { message: 'a tag parameter cannot be a digest' });
    const digest = digestOf(payload, ref.kind === 'digest' ? ref.algorithm : 'sha256');
    if (ref.kind === 'digest' && digest !== ref.digest) {
      throw new RegistryError('DIGEST_INVALID', { detail: { expected: ref.digest, actual: digest } });
    }
    const manifest = parseManifest(payload, contentType);

    const moved = await withTransaction(this.pool, async (tx) => {
      const repositoryId = await this.repositoryIds.ensure(tx, repository);
      if (!(options.sparse ?? this.policy.sparse)) await assertReferencesExist(tx, repositoryId, manifest.references);
      if (this.policy.quotas) {
        const blobRefs = manifest.references.filter((r) => r.kind !== 'manifest' && r.kind !== 'subject');
        const blobs = blobRefs.map((r) => r.descriptor.digest);
        // A sparse push (a pull-through cache's) counts what it declares for blobs not stored yet.
        let notStoredBytes = 0;
        if (options.sparse && this.policy.quotas.rulesFor(repository).length > 0) {
          const stored = await existingBlobDigests(tx, blobs);
          const missing = new Map(blobRefs.filter((r) => !stored.has(r.descriptor.digest)).map((r) => [r.descriptor.digest, r.descriptor.size]));
          notStoredBytes = [...missing.values()].reduce((a, b) => a + b, 0);
        }
        await assertWithinQuota(tx, this.policy.quotas, repository, blobs, notStoredBytes);
      }
      await insertManifest(tx, {
        repositoryId,
        digest,
        mediaType: manifest.mediaType,
        artifactType: manifest.artifactType,
        subjectDigest: manifest.subject?.digest ?? null,
        annotations: manifest.annotations,
        payload,
        references: manifest.references.map((r) => ({ kind: r.kind, digest: r.descriptor.digest })),
      });
      const guarded = { ...change, guard: (c: TagChange) => this.immutable.assertMayChange(repository, c, `moved to ${digest}`) };
      const changed: { tag: string; previous: string | null }[] = [];
      for (const tag of tags) {
        const result = await setTag(tx, repositoryId, tag, digest, guarded);
        if (result.changed) changed.push({ tag, previous: result.previous });
      }
      return changed;
    });
    const target = { repository, digest, mediaType: manifest.mediaType, size: payload.length, actor: change.actor, request: change.request };
    this.notifier.notify([
      ...(tags.length === 0 ? [{ ...target, action: 'push' as const }] : tags.map((tag) => ({ ...target, action: 'push' as const, tag }))),
      ...moved.map((m) => ({ ...target, action: 'tag' as const, tag: m.tag, previousDigest: m.previous })),
    ]);
    return { digest, subject: manifest.subject?.digest ?? null, tags };
  }

  /** end-9: by digest removes the manifest and untags it; by tag removes only the tag. */
  async delete(repository: string, reference: string, change: ManifestChange): Promise<void> {
    const ref = parseReference(reference);
    const repositoryId = await findRepositoryId(this.pool, repository);
    if (repositoryId === undefined) throw new RegistryError('NAME_UNKNOWN', { detail: { name: repository } });
    const guarded = { ...change, guard: (c: TagChange) => this.immutable.assertMayChange(repository, c, 'deleted') };
    const who = { repository, actor: change.actor, request: change.request, action: 'delete' as const };
    const events = await withTransaction(this.pool, async (tx): Promise<RegistryEvent[] | undefined> => {
      if (ref.kind === 'tag') {
        const [previous] = await findManifestHeadsByTag(tx, [{ repository, reference: ref.tag }]);
        if (!previous || !(await removeTag(tx, repositoryId, ref.tag, guarded))) return undefined;
        return [{ ...who, digest: previous.digest, mediaType: previous.mediaType, size: previous.size, tag: ref.tag }];
      }
      const untagged: RegistryEvent[] = [];
      for (const tag of await listTagsOfManifest(tx, repositoryId, ref.digest)) {
        if (await removeTag(tx, repositoryId, tag, guarded)) untagged.push({ ...who, digest: ref.digest, tag });
      }
      return (await deleteManifest(tx, repositoryId, ref.digest)) ? [...untagged, { ...who, digest: ref.digest }] : undefined;
    });
    if (!events) throw new RegistryError('MANIFEST_UNKNOWN', { detail: { reference } });
    this.notifier.notify(events);
  }
}

async function assertReferencesExist(
  tx: pg.PoolClient,
  repositoryId: number,
  references: ReturnType<typeof parseManifest>['references'],
): Promise<void> {
  const required = references.filter((r) => r.mustExist);
  const blobDigests = required.filter((r) => r.kind !== 'manifest').map((r) => r.descriptor.digest);
  const manifestDigests = required.filter((r) => r.kind === 'manifest').map((r) => r.descriptor.digest);
  // Locked until the push commits: garbage collection cannot take what this manifest is checked
  // to reference (it skips locked rows; if it got there first, they are gone and this is refused).
  const blobs = await lockLinkedDigests(tx, repositoryId, blobDigests);
  const manifests = await lockExistingManifestDigests(tx, repositoryId, manifestDigests);
  const missing = [
    ...blobDigests.filter((d) => !blobs.has(d)),
    ...manifestDigests.filter((d) => !manifests.has(d)),
  ];
  if (missing.length > 0) {
    throw new RegistryError('MANIFEST_BLOB_UNKNOWN', { detail: { missing: [...new Set(missing)] } });
  }
}
