// Building OCI content in tests: random blobs, image manifests, indexes, and pushing them through
// the HTTP API exactly as a client would.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type supertest from 'supertest';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

type Agent = ReturnType<typeof supertest.agent>;

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function sha512(bytes: Uint8Array | string): string {
  return `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
}

export function randomBlob(size = 1024): Buffer {
  return randomBytes(size);
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  [field: string]: unknown;
}

export function descriptorOf(bytes: Buffer, mediaType: string, extra: Record<string, unknown> = {}): Descriptor {
  return { mediaType, digest: sha256(bytes), size: bytes.length, ...extra };
}

/** Monolithic push: POST for a session, PUT ?digest= with the bytes. */
export async function pushBlob(request: Agent, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const post = await request.post(`/v2/${repo}/blobs/uploads/`).expect(202);
  const location = post.headers.location as string;
  const sep = location.includes('?') ? '&' : '?';
  await request
    .put(`${location}${sep}digest=${encodeURIComponent(digest)}`)
    .set('Content-Type', 'application/octet-stream')
    .send(bytes)
    .expect(201);
  return digest;
}

export interface TestImage {
  config: Buffer;
  layers: Buffer[];
  manifest: Buffer;
  digest: string;
}

/** An image manifest over the given config and layers (not pushed). */
export function imageOf(config: Buffer, layers: Buffer[], options: { extra?: Record<string, unknown>; mediaType?: string } = {}): TestImage {
  const mediaType = options.mediaType ?? OCI_MANIFEST;
  const docker = mediaType === DOCKER_MANIFEST;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: descriptorOf(config, docker ? 'application/vnd.docker.container.image.v1+json' : OCI_CONFIG),
      layers: layers.map((l) => descriptorOf(l, docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : OCI_LAYER)),
      ...options.extra,
    }),
  );
  return { config, layers, manifest, digest: sha256(manifest) };
}

/** An OCI image manifest over a fresh config and layers (not pushed). */
export function buildImage(options: { layers?: number; extra?: Record<string, unknown>; mediaType?: string } = {}): TestImage {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, n: randomBytes(4).toString('hex') }));
  const layers = Array.from({ length: options.layers ?? 2 }, () => randomBlob(512));
  return imageOf(config, layers, options);
}

/** Pushes an image's blobs and its manifest under `reference`; returns the manifest digest. */
export async function pushImage(request: Agent, repo: string, reference: string, image = buildImage()): Promise<TestImage> {
  for (const blob of [image.config, ...image.layers]) await pushBlob(request, repo, blob);
  await putManifest(request, repo, reference, image.manifest, JSON.parse(image.manifest.toString()).mediaType).expect(201);
  return image;
}

export function putManifest(request: Agent, repo: string, reference: string, bytes: Buffer, mediaType = OCI_MANIFEST) {
  // superagent would JSON-encode a Buffer sent with a +json type; the bytes must go out verbatim.
  return request
    .put(`/v2/${repo}/manifests/${reference}`)
    .set('Content-Type', mediaType)
    .serialize((b: Buffer) => b as unknown as string)
    .send(bytes);
}

/** Asserts the spec's error envelope with this code. */
export function assertErrorCode(res: { body: unknown; status: number }, code: string): void {
  const body = res.body as { errors?: { code: string }[] };
  assert.ok(Array.isArray(body.errors), `expected an error envelope, got ${JSON.stringify(res.body)}`);
  assert.equal(body.errors[0]?.code, code, JSON.stringify(res.body));
}

/** Makes supertest hand back the raw body bytes whatever the content type. */
export function rawBody(res: supertest.Response, done: (err: Error | null, body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => done(null, Buffer.concat(chunks)));
}
