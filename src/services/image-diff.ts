// What changed between two images (issue 5's deploy diff): per platform, layers added, removed and
// kept with their sizes, and the image config fields a deploy cares about. Images are named by
// tag (`prod`), digest (`sha256:…`) or tag revision (`prod@3`: what revision 3 pointed the tag at).
import type pg from 'pg';
import type { StoredManifest } from '../db/manifests.js';
import { findRepositoryId } from '../db/repositories.js';
import { findTagEvent } from '../db/tag-history.js';
import { RegistryError } from '../errors/registry-error.js';
import { looksLikeDigest, parseDigest } from '../registry/digest.js';
import {
  diffImageConfigs,
  imageParts,
  indexChildren,
  isImageConfigMediaType,
  isIndexPayload,
  platformKey,
  type ConfigChanges,
  type LayerDescriptor,
} from '../registry/image-config.js';
import { isValidTag } from '../registry/names.js';
import type { BlobStore } from '../storage/blob-store.js';
import { ImageReader } from './image-reader.js';

export type ImageRef = { kind: 'digest'; digest: string } | { kind: 'tag'; tag: string } | { kind: 'revision'; tag: string; revision: number };

/** `sha256:…`, `prod` or `prod@3` (tags cannot contain `@`, digests always contain `:`). */
export function parseImageRef(ref: string): ImageRef {
  if (looksLikeDigest(ref)) return { kind: 'digest', digest: parseDigest(ref).digest };
  const at = /^(.+)@(\d{1,9})$/.exec(ref);
  if (at && isValidTag(at[1]!) && Number(at[2]) > 0) return { kind: 'revision', tag: at[1]!, revision: Number(at[2]) };
  if (isValidTag(ref)) return { kind: 'tag', tag: ref };
  throw new RegistryError('REQUEST_INVALID', {
    message: `"${ref.slice(0, 200)}" is not an image reference: use a tag (prod), a digest (sha256:…) or a tag revision (prod@3)`,
    detail: { ref: ref.slice(0, 200) },
  });
}

export interface LayerDiff {
  added: LayerDescriptor[];
  removed: LayerDescriptor[];
  kept: LayerDescriptor[];
  /** Total layer bytes on each side. */
  fromSize: number;
  toSize: number;
}

export interface PlatformDiff {
  platform: string;
  status: 'added' | 'removed' | 'changed' | 'unchanged';
  from: string | null;
  to: string | null;
  layers: LayerDiff | null;
  config: { from: string | null; to: string | null; changes: ConfigChanges } | null;
}

export interface ImageDiff {
  repository: string;
  from: { ref: string; digest: string; mediaType: string };
  to: { ref: string; digest: string; mediaType: string };
  identical: boolean;
  platforms: PlatformDiff[];
}

interface PlatformImage {
  platform: string;
  manifest: StoredManifest;
}

export class ImageDiffService {
  private readonly images: ImageReader;

  constructor(
    private readonly pool: pg.Pool,
    store: BlobStore,
  ) {
    this.images = new ImageReader(pool, store);
  }

  async diff(repository: string, fromRef: string, toRef: string): Promise<ImageDiff> {
    const refs = [parseImageRef(fromRef), parseImageRef(toRef)] as const;
    const repositoryId = await findRepositoryId(this.pool, repository);
    if (repositoryId === undefined) throw new RegistryError('NAME_UNKNOWN', { detail: { name: repository } });
    const [fromDigest, toDigest] = await Promise.all(refs.map((r) => this.resolve(repositoryId, repository, r)));
    const [from, to] = await Promise.all([this.images.manifest(repositoryId, fromDigest!), this.images.manifest(repositoryId, toDigest!)]);
    const [fromImages, toImages] = await Promise.all([this.platformImages(repositoryId, from), this.platformImages(repositoryId, to)]);

    const pairs: [PlatformImage | undefined, PlatformImage | undefined][] = [];
    if (fromImages.length === 1 && toImages.length === 1) pairs.push([fromImages[0], toImages[0]]);
    else {
      for (const f of fromImages) pairs.push([f, toImages.find((t) => t.platform === f.platform)]);
      for (const t of toImages) if (!fromImages.some((f) => f.platform === t.platform)) pairs.push([undefined, t]);
    }
    const platforms = await Promise.all(pairs.map(([f, t]) => this.platformDiff(f, t)));
    return {
      repository,
      from: { ref: fromRef, digest: from.digest, mediaType: from.mediaType },
      to: { ref: toRef, digest: to.digest, mediaType: to.mediaType },
      identical: from.digest === to.digest,
      platforms,
    };
  }

  /** The digest a reference names in the repository: TAG_UNKNOWN, REVISION_UNKNOWN when there is none. */
  async resolve(repositoryId: number, repository: string, ref: ImageRef): Promise<string> {
    if (ref.kind === 'digest') return ref.digest;
    if (ref.kind === 'revision') {
      const event = await findTagEvent(this.pool, repositoryId, ref.tag, ref.revision);
      if (!event) throw new RegistryError('REVISION_UNKNOWN', { message: `tag "${ref.tag}" has no revision ${ref.revision}`, detail: { tag: ref.tag, revision: ref.revision } });
      if (!event.digest) {
        throw new RegistryError('REQUEST_INVALID', { message: `revision ${ref.revision} of tag "${ref.tag}" deleted it: it names no image`, detail: { tag: ref.tag, revision: ref.revision } });
      }
      return event.digest;
    }
    const { rows } = await this.pool.query<{ manifest_digest: string }>('SELECT manifest_digest FROM tags WHERE repository_id = $1 AND name = $2', [repositoryId, ref.tag]);
    if (!rows[0]) throw new RegistryError('TAG_UNKNOWN', { message: `tag "${ref.tag}" does not exist in ${repository}`, detail: { name: repository, tag: ref.tag } });
    return rows[0].manifest_digest;
  }

  /** An index's platform images (attestations left out), or the one image with its config's platform. */
  private async platformImages(repositoryId: number, manifest: StoredManifest): Promise<PlatformImage[]> {
    if (isIndexPayload(manifest.mediaType)) {
      const children = indexChildren(manifest.payload).filter((c) => !c.attestation);
      return Promise.all(
        children.map(async (c, i) => ({
          platform: c.platform ? platformKey(c.platform) : `#${i}`,
          manifest: await this.images.manifest(repositoryId, c.digest),
        })),
      );
    }
    const parts = imageParts(manifest.payload);
    let platform = 'unknown';
    if (parts && isImageConfigMediaType(parts.config.mediaType)) {
      const config = await this.images.config(parts.config.digest, parts.config.size);
      if (config?.platform) platform = platformKey(config.platform);
    }
    return [{ platform, manifest }];
  }

  private async platformDiff(from: PlatformImage | undefined, to: PlatformImage | undefined): Promise<PlatformDiff> {
    const platform = (to ?? from)!.platform;
    const fromDigest = from?.manifest.digest ?? null;
    const toDigest = to?.manifest.digest ?? null;
    const fromParts = from ? imageParts(from.manifest.payload) : undefined;
    const toParts = to ? imageParts(to.manifest.payload) : undefined;
    const status = !from ? 'added' : !to ? 'removed' : fromDigest === toDigest ? 'unchanged' : 'changed';

    const fromLayers = fromParts?.layers ?? [];
    const toLayers = toParts?.layers ?? [];
    const fromSet = new Set(fromLayers.map((l) => l.digest));
    const toSet = new Set(toLayers.map((l) => l.digest));
    const layers: LayerDiff = {
      added: toLayers.filter((l) => !fromSet.has(l.digest)),
      removed: fromLayers.filter((l) => !toSet.has(l.digest)),
      kept: toLayers.filter((l) => fromSet.has(l.digest)),
      fromSize: fromLayers.reduce((s, l) => s + l.size, 0),
      toSize: toLayers.reduce((s, l) => s + l.size, 0),
    };

    let config: PlatformDiff['config'] = null;
    if (fromParts && toParts && isImageConfigMediaType(fromParts.config.mediaType) && isImageConfigMediaType(toParts.config.mediaType)) {
      const same = fromParts.config.digest === toParts.config.digest;
      const [a, b] = await Promise.all([
        this.images.config(fromParts.config.digest, fromParts.config.size),
        same ? undefined : this.images.config(toParts.config.digest, toParts.config.size),
      ]);
      config = { from: fromParts.config.digest, to: toParts.config.digest, changes: a && (same || b) ? (same ? {} : diffImageConfigs(a, b!)) : {} };
    } else if (fromParts || toParts) {
      config = { from: fromParts?.config.digest ?? null, to: toParts?.config.digest ?? null, changes: {} };
    }
    return { platform, status, from: fromDigest, to: toDigest, layers: fromParts || toParts ? layers : null, config };
  }
}
