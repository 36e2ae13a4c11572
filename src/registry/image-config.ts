// What Berth reads out of stored manifests and image configs for the management API: layer
// descriptors, index children with their platforms, and the config fields a deploy diff shows.
// Pure functions over bytes; reading the bytes is the services' job.
import { isIndexMediaType } from './media-types.js';

export const OCI_IMAGE_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const DOCKER_IMAGE_CONFIG = 'application/vnd.docker.container.image.v1+json';

export function isImageConfigMediaType(mediaType: string): boolean {
  return mediaType === OCI_IMAGE_CONFIG || mediaType === DOCKER_IMAGE_CONFIG;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string | undefined;
}

/** `linux/arm64/v8`. */
export function platformKey(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

export interface LayerDescriptor {
  digest: string;
  size: number;
  mediaType: string;
}

export interface ImageManifestParts {
  config: LayerDescriptor;
  layers: LayerDescriptor[];
}

export interface IndexChild {
  digest: string;
  mediaType: string;
  platform: Platform | null;
  /** BuildKit stores provenance/SBOM manifests in the index with platform unknown/unknown. */
  attestation: boolean;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function descriptor(v: unknown): LayerDescriptor | undefined {
  if (!isObject(v) || typeof v.digest !== 'string') return undefined;
  return { digest: v.digest, size: typeof v.size === 'number' ? v.size : 0, mediaType: typeof v.mediaType === 'string' ? v.mediaType : '' };
}

function platformOf(v: unknown): Platform | null {
  if (!isObject(v) || typeof v.os !== 'string' || typeof v.architecture !== 'string') return null;
  return { os: v.os, architecture: v.architecture, variant: typeof v.variant === 'string' && v.variant ? v.variant : undefined };
}

/** Stored manifests were validated on push; these readers still never throw on odd content. */
function parse(payload: Buffer): Json {
  try {
    const doc: unknown = JSON.parse(payload.toString('utf8'));
    return isObject(doc) ? doc : {};
  } catch {
    return {};
  }
}

export function imageParts(payload: Buffer): ImageManifestParts | undefined {
  const doc = parse(payload);
  const config = descriptor(doc.config);
  if (!config) return undefined;
  const layers = Array.isArray(doc.layers) ? doc.layers.map(descriptor).filter((d): d is LayerDescriptor => d !== undefined) : [];
  return { config, layers };
}

export function indexChildren(payload: Buffer): IndexChild[] {
  const doc = parse(payload);
  if (!Array.isArray(doc.manifests)) return [];
  return doc.manifests.flatMap((m): IndexChild[] => {
    const d = descriptor(m);
    if (!d) return [];
    const annotations = isObject(m) && isObject(m.annotations) ? m.annotations : {};
    const platform = platformOf(isObject(m) ? m.platform : undefined);
    const attestation = annotations['vnd.docker.reference.type'] === 'attestation-manifest' || (platform?.os === 'unknown' && platform.architecture === 'unknown');
    return [{ digest: d.digest, mediaType: d.mediaType, platform, attestation }];
  });
}

export function isIndexPayload(mediaType: string): boolean {
  return isIndexMediaType(mediaType);
}

/** The parts of an image config a deploy diff compares. */
export interface ImageConfigSummary {
  platform: Platform | null;
  created: string | null;
  entrypoint: string[] | null;
  cmd: string[] | null;
  env: Record<string, string>;
  labels: Record<string, string>;
  exposedPorts: string[];
  user: string | null;
  workingDir: string | null;
}

function stringArray(v: unknown): string[] | null {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null;
}

function stringRecord(v: unknown): Record<string, string> {
  if (!isObject(v)) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** Reads an OCI / Docker image config; `undefined` when the bytes are not a JSON object. */
export function summarizeImageConfig(bytes: Buffer): ImageConfigSummary | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isObject(doc)) return undefined;
  const c = isObject(doc.config) ? doc.config : {};
  const env: Record<string, string> = {};
  for (const line of stringArray(c.Env) ?? []) {
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
    else env[line] = '';
  }
  return {
    platform: platformOf(doc),
    created: typeof doc.created === 'string' ? doc.created : null,
    entrypoint: stringArray(c.Entrypoint),
    cmd: stringArray(c.Cmd),
    env,
    labels: stringRecord(c.Labels),
    exposedPorts: isObject(c.ExposedPorts) ? Object.keys(c.ExposedPorts).sort() : [],
    user: typeof c.User === 'string' && c.User !== '' ? c.User : null,
    workingDir: typeof c.WorkingDir === 'string' && c.WorkingDir !== '' ? c.WorkingDir : null,
  };
}

export interface MapChanges {
  added: Record<string, string>;
  removed: Record<string, string>;
  changed: Record<string, { from: string; to: string }>;
}

function mapChanges(from: Record<string, string>, to: Record<string, string>): MapChanges | undefined {
  const out: MapChanges = { added: {}, removed: {}, changed: {} };
  for (const [k, v] of Object.entries(to)) {
    if (!(k in from)) out.added[k] = v;
    else if (from[k] !== v) out.changed[k] = { from: from[k]!, to: v };
  }
  for (const [k, v] of Object.entries(from)) if (!(k in to)) out.removed[k] = v;
  const empty = Object.keys(out.added).length + Object.keys(out.removed).length + Object.keys(out.changed).length === 0;
  return empty ? undefined : out;
}

export interface ConfigChanges {
  entrypoint?: { from: string[] | null; to: string[] | null };
  cmd?: { from: string[] | null; to: string[] | null };
  user?: { from: string | null; to: string | null };
  workingDir?: { from: string | null; to: string | null };
  created?: { from: string | null; to: string | null };
  env?: MapChanges;
  labels?: MapChanges;
  exposedPorts?: { added: string[]; removed: string[] };
}

/** Only what differs; an empty object when the two configs agree on every compared field. */
export function diffImageConfigs(from: ImageConfigSummary, to: ImageConfigSummary): ConfigChanges {
  const out: ConfigChanges = {};
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(from.entrypoint, to.entrypoint)) out.entrypoint = { from: from.entrypoint, to: to.entrypoint };
  if (!same(from.cmd, to.cmd)) out.cmd = { from: from.cmd, to: to.cmd };
  if (from.user !== to.user) out.user = { from: from.user, to: to.user };
  if (from.workingDir !== to.workingDir) out.workingDir = { from: from.workingDir, to: to.workingDir };
  if (from.created !== to.created) out.created = { from: from.created, to: to.created };
  const env = mapChanges(from.env, to.env);
  if (env) out.env = env;
  const labels = mapChanges(from.labels, to.labels);
  if (labels) out.labels = labels;
  const addedPorts = to.exposedPorts.filter((p) => !from.exposedPorts.includes(p));
  const removedPorts = from.exposedPorts.filter((p) => !to.exposedPorts.includes(p));
  if (addedPorts.length + removedPorts.length > 0) out.exposedPorts = { added: addedPorts, removed: removedPorts };
  return out;
}
