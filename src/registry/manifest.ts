// Parses pushed manifest bytes (never re-serialized) into what the registry needs to know: media
// type, what it references, subject and artifact type. MANIFEST_INVALID for anything malformed.
import { RegistryError } from '../errors/registry-error.js';
import { digestOf, tryParseDigest } from './digest.js';
import {
  DOCKER_MANIFEST,
  MANIFEST_MEDIA_TYPES,
  OCI_MANIFEST,
  isIndexMediaType,
  isNonDistributable,
} from './media-types.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export type ReferenceKind = 'config' | 'layer' | 'manifest' | 'subject';

export interface ManifestReference {
  kind: ReferenceKind;
  descriptor: Descriptor;
  /** False for non-distributable layers and the subject, which need not be in the repository. */
  mustExist: boolean;
}

export interface ParsedManifest {
  mediaType: string;
  artifactType: string | null;
  subject: Descriptor | null;
  annotations: Record<string, string> | null;
  references: ManifestReference[];
}

function invalid(reason: string, extra: Record<string, unknown> = {}): RegistryError {
  return new RegistryError('MANIFEST_INVALID', { message: `manifest invalid: ${reason}`, detail: { reason, ...extra } });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} is not a descriptor object`);
  const { mediaType, digest, size, artifactType, annotations, data } = value;
  if (typeof mediaType !== 'string' || mediaType === '') throw invalid(`${where}.mediaType is missing`);
  if (typeof digest !== 'string' || !tryParseDigest(digest)) {
    throw invalid(`${where}.digest is missing or not a supported digest`, { digest: digest ?? null });
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`${where}.size must be a non-negative integer`);
  }
  if (data !== undefined) checkEmbeddedData(data, digest, size, where);
  const descriptor: Descriptor = { mediaType, digest, size };
  if (typeof artifactType === 'string') descriptor.artifactType = artifactType;
  if (isObject(annotations)) descriptor.annotations = annotations as Record<string, string>;
  return descriptor;
}

/** A descriptor's `data` field must be the base64 of exactly the content it describes. */
function checkEmbeddedData(data: unknown, digest: string, size: number, where: string): void {
  if (typeof data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) throw invalid(`${where}.data is not base64`);
  const bytes = Buffer.from(data, 'base64');
  const algorithm = tryParseDigest(digest)!.algorithm;
  if (bytes.length !== size || digestOf(bytes, algorithm) !== digest) {
    throw invalid(`${where}.data does not match its digest and size`);
  }
}

/**
 * Parses and checks a manifest. `contentType` is the request's media type: when the body names a
 * mediaType the two must agree; when it names none the header decides.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid('body is not valid JSON');
  }
  if (!isObject(doc)) throw invalid('body is not a JSON object');
  if (doc.schemaVersion !== 2) throw invalid('schemaVersion must be 2', { schemaVersion: doc.schemaVersion ?? null });

  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  if (doc.mediaType !== undefined && declared === undefined) throw invalid('mediaType must be a string');
  if (declared && contentType && declared !== contentType) {
    throw invalid('mediaType in the body does not match Content-Type', { mediaType: declared, contentType });
  }
  const mediaType = declared ?? contentType ?? guessMediaType(doc);
  if (!mediaType || !MANIFEST_MEDIA_TYPES.has(mediaType)) {
    throw invalid('unsupported manifest media type', { mediaType: mediaType ?? null });
  }
  if (mediaType === DOCKER_MANIFEST && !declared) throw invalid('a Docker schema2 manifest must declare its mediaType');

  const references: ManifestReference[] = [];
  let artifactType = typeof doc.artifactType === 'string' ? doc.artifactType : null;
  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw invalid('an index needs a manifests array');
    doc.manifests.forEach((m, i) => {
      references.push({ kind: 'manifest', descriptor: parseDescriptor(m, `manifests[${i}]`), mustExist: true });
    });
  } else {
    const config = parseDescriptor(doc.config, 'config');
    references.push({ kind: 'config', descriptor: config, mustExist: true });
    if (doc.layers !== undefined && !Array.isArray(doc.layers)) throw invalid('layers must be an array');
    ((doc.layers as unknown[] | undefined) ?? []).forEach((l, i) => {
      const layer = parseDescriptor(l, `layers[${i}]`);
      references.push({ kind: 'layer', descriptor: layer, mustExist: !isNonDistributable(layer.mediaType) });
    });
    // An image's artifact type falls back to its config media type (image-spec, referrers API).
    artifactType ??= mediaType === OCI_MANIFEST ? config.mediaType : null;
  }

  let subject: Descriptor | null = null;
  if (doc.subject !== undefined) {
    subject = parseDescriptor(doc.subject, 'subject');
    references.push({ kind: 'subject', descriptor: subject, mustExist: false });
  }
  const annotations = isObject(doc.annotations) ? (doc.annotations as Record<string, string>) : null;
  return { mediaType, artifactType, subject, annotations, references };
}

/** With neither a mediaType field nor a Content-Type, the shape decides (OCI makes the field optional). */
function guessMediaType(doc: Record<string, unknown>): string | undefined {
  if (Array.isArray(doc.manifests)) return 'application/vnd.oci.image.index.v1+json';
  if (isObject(doc.config)) return OCI_MANIFEST;
  return undefined;
}
