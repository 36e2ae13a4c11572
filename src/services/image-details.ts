// Everything the management API shows about one image or index: its manifest as pushed, per
// platform the layers with sizes and the config's build history, labels and annotations, and the
// manifests that refer to it (signatures, SBOMs, attestations).
import type pg from 'pg';
import { listReferrersOfSubjects, type SubjectReferrerRow } from '../db/overview.js';
import type { StoredManifest } from '../db/manifests.js';
import { findRepositoryId } from '../db/repositories.js';
import { RegistryError } from '../errors/registry-error.js';
import {
  imageParts,
  indexChildren,
  isImageConfigMediaType,
  isIndexPayload,
  platformKey,
  summarizeImageConfig,
  type ImageConfigSummary,
  type LayerDescriptor,
} from '../registry/image-config.js';
import type { BlobStore } from '../storage/blob-store.js';
import { parseImageRef, type ImageDiffService } from './image-diff.js';
import { ImageReader } from './image-reader.js';

export interface BuildStep {
  created: string | null;
  createdBy: string | null;
  comment: string | null;
  emptyLayer: boolean;
}

export interface PlatformImage {
  platform: string;
  digest: string;
  mediaType: string;
  config: { digest: string; size: number; mediaType: string } | null;
  layers: LayerDescriptor[];
  /** Config plus layers, in bytes. */
  size: number;
  summary: ImageConfigSummary | null;
  history: BuildStep[];
  annotations: Record<string, string>;
}

export interface ImageDetails {
  repository: string;
  ref: string;
  digest: string;
  mediaType: string;
  size: number;
  /** The manifest as pushed (parsed JSON). */
  manifest: unknown;
  annotations: Record<string, string>;
  platforms: PlatformImage[];
  referrers: Omit<SubjectReferrerRow, 'subject'>[];
}

function objectOf(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function annotationsOf(doc: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(objectOf(doc.annotations)).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

function historyOf(config: Buffer): BuildStep[] {
  let doc: Record<string, unknown>;
  try {
    doc = objectOf(JSON.parse(config.toString('utf8')));
  } catch {
    return [];
  }
  const steps = Array.isArray(doc.history) ? doc.history : [];
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return steps.map((h) => {
    const step = objectOf(h);
    return { created: text(step.created), createdBy: text(step.created_by), comment: text(step.comment), emptyLayer: step.empty_layer === true };
  });
}

export class ImageDetailsService {
  private readonly images: ImageReader;

  constructor(
    private readonly pool: pg.Pool,
    store: BlobStore,
    private readonly refs: Pick<ImageDiffService, 'resolve'>,
  ) {
    this.images = new ImageReader(pool, store);
  }

  async image(repository: string, ref: string): Promise<ImageDetails> {
    const parsed = parseImageRef(ref);
    const repositoryId = await findRepositoryId(this.pool, repository);
    if (repositoryId === undefined) throw new RegistryError('NAME_UNKNOWN', { detail: { name: repository } });
    const digest = await this.refs.resolve(repositoryId, repository, parsed);
    const top = await this.images.manifest(repositoryId, digest);
    const doc = objectOf(JSON.parse(top.payload.toString('utf8')));
    let platforms: PlatformImage[];
    if (isIndexPayload(top.mediaType)) {
      const children = indexChildren(top.payload).filter((c) => !c.attestation);
      platforms = await Promise.all(
        children.map(async (c, i) => this.platformImage(c.platform ? platformKey(c.platform) : `#${i + 1}`, await this.images.manifest(repositoryId, c.digest))),
      );
    } else {
      platforms = [await this.platformImage(null, top)];
    }
    const referrers = await listReferrersOfSubjects(this.pool, repositoryId, [digest]);
    return {
      repository,
      ref,
      digest,
      mediaType: top.mediaType,
      size: top.size,
      manifest: doc,
      annotations: annotationsOf(doc),
      platforms,
      referrers: referrers.map(({ subject: _, ...r }) => r),
    };
  }

  private async platformImage(platform: string | null, manifest: StoredManifest): Promise<PlatformImage> {
    const parts = imageParts(manifest.payload);
    const doc = objectOf(JSON.parse(manifest.payload.toString('utf8')));
    let summary: ImageConfigSummary | null = null;
    let history: BuildStep[] = [];
    if (parts && isImageConfigMediaType(parts.config.mediaType)) {
      const bytes = await this.images.configBytes(parts.config.digest, parts.config.size);
      if (bytes) {
        summary = summarizeImageConfig(bytes) ?? null;
        history = historyOf(bytes);
      }
    }
    const layers = parts?.layers ?? [];
    return {
      platform: platform ?? (summary?.platform ? platformKey(summary.platform) : 'unknown'),
      digest: manifest.digest,
      mediaType: manifest.mediaType,
      config: parts ? { digest: parts.config.digest, size: parts.config.size, mediaType: parts.config.mediaType } : null,
      layers,
      size: (parts?.config.size ?? 0) + layers.reduce((s, l) => s + l.size, 0),
      summary,
      history,
      annotations: annotationsOf(doc),
    };
  }
}
