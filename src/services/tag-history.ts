// Tag history and rollback (issue 5). A rollback is one more tag change: it goes through setTag in
// src/db/tags.ts like a push does (same lock, same event, same immutability guard), with the
// target resolved under the tag's lock so a concurrent push cannot make "previous" stale.
// Webhooks (issue 7) hook into that one place; callers use TagHistoryService.rollback.
import { silentNotifier, type Notifier } from '../notify/notifier.js';
import type pg from 'pg';
import { findLinkedDigests } from '../db/blobs.js';
import { findManifestInRepository } from '../db/manifests.js';
import { withTransaction, type Db } from '../db/pool.js';
import { findRepositoryId } from '../db/repositories.js';
import { findTagEvent, latestTagEvent, listTagEvents, tagEventAt, tagEverPointedAt } from '../db/tag-history.js';
import { currentDigest, lockTag, setTag, type TagChangeContext, type TagEventRow } from '../db/tags.js';
import { RegistryError } from '../errors/registry-error.js';
import { parseDigest } from '../registry/digest.js';
import { ImmutableTags } from '../registry/immutable-tags.js';
import { parseManifest } from '../registry/manifest.js';
import { isValidTag } from '../registry/names.js';
import type { BlobStore } from '../storage/blob-store.js';

export type RollbackTarget =
  | { kind: 'previous' }
  | { kind: 'revision'; revision: number }
  | { kind: 'digest'; digest: string; force: boolean }
  | { kind: 'at'; at: Date };

export interface RollbackRequest {
  target: RollbackTarget;
  /** The digest the tag must point at now (null: the tag must not exist); 412 otherwise. */
  expect?: string | null | undefined;
  reason?: string | undefined;
  dryRun?: boolean | undefined;
}

export interface RollbackResult {
  repository: string;
  tag: string;
  /** What the tag pointed at before (null when it was deleted). */
  from: string | null;
  to: string;
  changed: boolean;
  dryRun: boolean;
  /** The recorded event (for a dry run: the one that would be recorded); null when nothing changed. */
  event: TagEventRow | null;
}

export interface HistoryPage {
  repository: string;
  tag: string;
  current: string | null;
  events: TagEventRow[];
  /** The `before` of the next (older) page, when there is one. */
  next: number | undefined;
}

export function assertValidTag(tag: string): string {
  if (!isValidTag(tag)) throw new RegistryError('REQUEST_INVALID', { message: 'invalid tag', detail: { tag: tag.slice(0, 200) } });
  return tag;
}

export class TagHistoryService {
  private readonly immutable: ImmutableTags;
  private readonly sparse: boolean;

  constructor(
    private readonly pool: pg.Pool,
    private readonly store: BlobStore,
    options: { immutableTags?: ImmutableTags | undefined; sparseManifests?: boolean | undefined } = {},
    /** Told about each rollback once it is committed (BERTH_WEBHOOKS). */
    private readonly notifier: Notifier = silentNotifier,
  ) {
    this.immutable = options.immutableTags ?? new ImmutableTags();
    this.sparse = options.sparseManifests ?? false;
  }

  async repositoryId(repository: string): Promise<number> {
    const id = await findRepositoryId(this.pool, repository);
    if (id === undefined) throw new RegistryError('NAME_UNKNOWN', { detail: { name: repository } });
    return id;
  }

  /** Events newest first; `before` is an exclusive revision. TAG_UNKNOWN for a tag with no history. */
  async history(repository: string, tag: string, options: { n: number; before?: number | undefined }): Promise<HistoryPage> {
    assertValidTag(tag);
    const repositoryId = await this.repositoryId(repository);
    const rows = await listTagEvents(this.pool, repositoryId, tag, { before: options.before, limit: options.n + 1 });
    const current = await currentDigest(this.pool, repositoryId, tag);
    if (rows.length === 0 && current === null && !(await latestTagEvent(this.pool, repositoryId, tag))) {
      throw new RegistryError('TAG_UNKNOWN', { message: `tag "${tag}" of ${repository} has no history`, detail: { name: repository, tag } });
    }
    const events = rows.slice(0, options.n);
    const next = rows.length > options.n ? events[events.length - 1]!.revision : undefined;
    return { repository, tag, current, events, next };
  }

  /** Points the tag back at an earlier digest; see RollbackTarget for the ways to name it. */
  async rollback(repository: string, tag: string, request: RollbackRequest, change: TagChangeContext): Promise<RollbackResult> {
    assertValidTag(tag);
    const repositoryId = await this.repositoryId(repository);
    const dryRun = request.dryRun ?? false;
    const result = await withTransaction(
      this.pool,
      async (tx) => {
        await lockTag(tx, repositoryId, tag);
        const current = await currentDigest(tx, repositoryId, tag);
        const latest = await latestTagEvent(tx, repositoryId, tag);
        if (!latest && current === null) {
          throw new RegistryError('TAG_UNKNOWN', { message: `tag "${tag}" of ${repository} has no history`, detail: { name: repository, tag } });
        }
        if (request.expect !== undefined && request.expect !== current) {
          throw new RegistryError('PRECONDITION_FAILED', {
            message: `tag "${tag}" points at ${current ?? 'nothing'}, not at the expected ${request.expect ?? 'nothing'}: it changed meanwhile`,
            detail: { tag, expected: request.expect, current },
          });
        }
        const target = await this.resolve(tx, repositoryId, repository, tag, request.target, latest);
        await this.assertPullable(tx, repositoryId, target);
        const result = await setTag(
          tx,
          repositoryId,
          tag,
          target,
          {
            ...change,
            reason: request.reason,
            guard: (c) => this.immutable.assertMayChange(repository, c, 'rolled back'),
          },
          'rollback',
        );
        return { repository, tag, from: current, to: target, changed: result.changed, dryRun, event: result.event ?? null };
      },
      { dryRun },
    );
    if (result.changed && !dryRun) {
      this.notifier.notify([{ action: 'rollback', repository, tag, digest: result.to, previousDigest: result.from, actor: change.actor }]);
    }
    return result;
  }

  private async resolve(
    tx: Db,
    repositoryId: number,
    repository: string,
    tag: string,
    target: RollbackTarget,
    latest: TagEventRow | undefined,
  ): Promise<string> {
    switch (target.kind) {
      case 'previous': {
        if (!latest?.previousDigest) {
          throw new RegistryError('REVISION_UNKNOWN', {
            message: latest
              ? `tag "${tag}" was created by its latest change (revision ${latest.revision}); there is no previous digest`
              : `tag "${tag}" has no recorded history`,
            detail: { tag, revision: latest?.revision ?? null },
          });
        }
        return latest.previousDigest;
      }
      case 'revision': {
        const event = await findTagEvent(tx, repositoryId, tag, target.revision);
        if (!event) {
          throw new RegistryError('REVISION_UNKNOWN', {
            message: `tag "${tag}" has no revision ${target.revision} (latest: ${latest?.revision ?? 'none'})`,
            detail: { tag, revision: target.revision, latest: latest?.revision ?? null },
          });
        }
        if (event.digest === null) {
          throw new RegistryError('REQUEST_INVALID', {
            message: `revision ${target.revision} of tag "${tag}" deleted it: there is no digest to go back to (try revision ${target.revision - 1})`,
            detail: { tag, revision: target.revision },
          });
        }
        return event.digest;
      }
      case 'digest': {
        const { digest } = parseDigest(target.digest);
        if (!target.force && !(await tagEverPointedAt(tx, repositoryId, tag, digest))) {
          throw new RegistryError('REQUEST_INVALID', {
            message: `tag "${tag}" never pointed at ${digest}; send "force": true to point it at any manifest of ${repository}`,
            detail: { tag, digest },
          });
        }
        return digest;
      }
      case 'at': {
        const event = await tagEventAt(tx, repositoryId, tag, target.at);
        if (!event || event.digest === null) {
          throw new RegistryError('REVISION_UNKNOWN', {
            message: event
              ? `tag "${tag}" did not exist at ${target.at.toISOString()}: revision ${event.revision} deleted it`
              : `tag "${tag}" did not exist yet at ${target.at.toISOString()}`,
            detail: { tag, at: target.at.toISOString(), revision: event?.revision ?? null },
          });
        }
        return event.digest;
      }
    }
  }

  /**
   * A rollback must never leave a dangling tag: the manifest must still be in the repository, and
   * everything a push of it would need (config, layers, index children, recursively) must still be
   * linked and present in the blob store. With BERTH_SPARSE_MANIFESTS a push needs none of that,
   * and neither does a rollback: only the manifest itself is required.
   */
  private async assertPullable(tx: Db, repositoryId: number, digest: string, depth = 0): Promise<void> {
    const manifest = await findManifestInRepository(tx, repositoryId, digest, { lock: true });
    if (!manifest) {
      throw new RegistryError('MANIFEST_UNKNOWN', {
        message: `manifest ${digest} is no longer in the repository (deleted or garbage-collected); the tag is left unchanged`,
        detail: { digest },
      });
    }
    if (this.sparse || depth > 8) return;
    const refs = parseManifest(manifest.payload, manifest.mediaType).references.filter((r) => r.mustExist);
    const blobDigests = [...new Set(refs.filter((r) => r.kind === 'config' || r.kind === 'layer').map((r) => r.descriptor.digest))];
    const linked = await findLinkedDigests(tx, repositoryId, blobDigests);
    const stored = await Promise.all(blobDigests.map(async (d) => (linked.has(d) ? (await this.store.stat(d)) !== undefined : false)));
    const missing = blobDigests.filter((_, i) => !stored[i]);
    if (missing.length > 0) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', {
        message: `manifest ${digest} references blobs that are gone; the tag is left unchanged`,
        detail: { digest, missing },
      });
    }
    for (const child of refs.filter((r) => r.kind === 'manifest')) await this.assertPullable(tx, repositoryId, child.descriptor.digest, depth + 1);
  }
}
