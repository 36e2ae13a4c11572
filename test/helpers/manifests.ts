// Manifest-level test helpers: a registry built with app options (sparse manifests), manifests of
// every kind (OCI image/index, Docker schema2/list, artifacts), raw reads, tag lists and the tag
// history, and raw HTTP requests whose path is sent untouched (superagent normalizes `..`).
import http from 'node:http';
import type Koa from 'koa';
import type supertest from 'supertest';
import type { AppDeps } from '../../src/app.js';
import {
  DOCKER_LIST,
  DOCKER_MANIFEST,
  OCI_INDEX,
  OCI_MANIFEST,
  buildImage,
  descriptorOf,
  putManifest,
  rawBody,
  sha256,
  sha512,
  type Descriptor,
  type TestImage,
} from './oci.js';
import { startTestRegistry, type TestRegistry } from './registry.js';

type Agent = ReturnType<typeof supertest.agent>;

export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
/** The empty descriptor's content: the two bytes `{}`. */
export const EMPTY_JSON = Buffer.from('{}');
export const EMPTY_DESCRIPTOR: Descriptor = {
  mediaType: OCI_EMPTY,
  digest: sha256(EMPTY_JSON),
  size: 2,
  data: EMPTY_JSON.toString('base64'),
};
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

/** Like startTestRegistry, with the app options the default helper does not expose. */
export async function startRegistryWith(
  options: Pick<AppDeps, 'sparseManifests' | 'publicUrl'> = {},
): Promise<TestRegistry> {
  return startTestRegistry(options);
}

export function json(value: unknown, space?: number): Buffer {
  return Buffer.from(JSON.stringify(value, null, space));
}

/** Monolithic single-request push (`POST …/blobs/uploads/?digest=`), any algorithm. */
export async function pushBlobAs(request: Agent, repo: string, bytes: Buffer, algorithm: 'sha256' | 'sha512'): Promise<string> {
  const digest = algorithm === 'sha256' ? sha256(bytes) : sha512(bytes);
  await request
    .post(`/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(digest)}`)
    .set('Content-Type', 'application/octet-stream')
    .send(bytes)
    .expect(201);
  return digest;
}

/** An OCI index (or Docker manifest list) over the given manifests. */
export function buildIndex(
  children: { manifest: Buffer; mediaType?: string }[],
  options: { mediaType?: string; extra?: Record<string, unknown> } = {},
): { manifest: Buffer; digest: string; mediaType: string } {
  const mediaType = options.mediaType ?? OCI_INDEX;
  const childType = mediaType === DOCKER_LIST ? DOCKER_MANIFEST : OCI_MANIFEST;
  const arch = ['amd64', 'arm64', 'riscv64', 's390x'];
  const manifest = json({
    schemaVersion: 2,
    mediaType,
    manifests: children.map((c, i) =>
      descriptorOf(c.manifest, c.mediaType ?? childType, { platform: { architecture: arch[i % arch.length], os: 'linux' } }),
    ),
    ...options.extra,
  });
  return { manifest, digest: sha256(manifest), mediaType };
}

/** An OCI artifact: artifactType, the empty config `{}`, layers of the given blobs. */
export function buildArtifact(options: {
  artifactType?: string;
  layers?: Buffer[];
  layerMediaType?: string;
  subject?: Descriptor;
  annotations?: Record<string, string>;
  extra?: Record<string, unknown>;
}): { manifest: Buffer; digest: string; layers: Buffer[] } {
  const layers = options.layers ?? [];
  const manifest = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    ...(options.artifactType ? { artifactType: options.artifactType } : {}),
    config: { mediaType: OCI_EMPTY, digest: sha256(EMPTY_JSON), size: 2 },
    layers: layers.map((l) => descriptorOf(l, options.layerMediaType ?? 'application/vnd.example.thing.v1')),
    ...(options.subject ? { subject: options.subject } : {}),
    ...(options.annotations ? { annotations: options.annotations } : {}),
    ...options.extra,
  });
  return { manifest, digest: sha256(manifest), layers };
}

/** A Docker schema2 image (not pushed). */
export function buildDockerImage(): TestImage {
  return buildImage({ mediaType: DOCKER_MANIFEST });
}

/** Puts a manifest and expects 201; the response is returned for header checks. */
export async function pushManifest(request: Agent, repo: string, reference: string, bytes: Buffer, mediaType = OCI_MANIFEST) {
  return putManifest(request, repo, reference, bytes, mediaType).expect(201);
}

/** GET (or HEAD) of a manifest with the raw body bytes. */
export function getManifest(request: Agent, repo: string, reference: string, method: 'get' | 'head' = 'get') {
  const req = method === 'get' ? request.get(`/v2/${repo}/manifests/${reference}`) : request.head(`/v2/${repo}/manifests/${reference}`);
  return req.buffer(true).parse(rawBody);
}

/** The full tag list of a repository (asserts 200). */
export async function listTags(request: Agent, repo: string): Promise<string[]> {
  const res = await request.get(`/v2/${repo}/tags/list`).expect(200);
  return (res.body as { tags: string[] }).tags;
}

export interface TagEvent {
  id: number;
  tag: string;
  digest: string | null;
  previous_digest: string | null;
  action: string;
  actor: string;
}

/** Row counts of the metadata tables: a rejected request must leave every one unchanged. */
export async function metadataCounts(reg: TestRegistry): Promise<Record<string, number>> {
  const tables = ['repositories', 'manifests', 'manifest_references', 'tags', 'tag_events'];
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const { rows } = await reg.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
    counts[table] = rows[0]!.n;
  }
  return counts;
}

/** A repository's tag history, oldest first (optionally of one tag). */
export async function tagEvents(reg: TestRegistry, repo: string, tag?: string): Promise<TagEvent[]> {
  const { rows } = await reg.db.pool.query<TagEvent>(
    `SELECT e.id, e.tag, e.digest, e.previous_digest, e.action, e.actor FROM tag_events e
     JOIN repositories r ON r.id = e.repository_id
     WHERE r.name = $1 AND ($2::text IS NULL OR e.tag = $2) ORDER BY e.id`,
    [repo, tag ?? null],
  );
  return rows;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The parsed JSON body, or undefined when it is not JSON. */
  json: unknown;
}

/**
 * One request whose path goes out byte for byte (`..`, `%2e%2e`, `//` kept), for name-validation
 * tests: superagent resolves paths through WHATWG URL, which removes dot segments.
 */
export async function rawRequest(
  app: Koa,
  method: string,
  requestPath: string,
  options: { headers?: Record<string, string>; body?: Buffer; chunked?: boolean } = {},
): Promise<RawResponse> {
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as { port: number };
    return await new Promise<RawResponse>((resolve, reject) => {
      const body = options.body;
      const sized = body && !options.chunked ? { 'Content-Length': String(body.length) } : {};
      const headers = { ...options.headers, ...sized };
      const req = http.request({ host: '127.0.0.1', port, method, path: requestPath, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          let parsed: unknown;
          try {
            parsed = JSON.parse(body.toString('utf8'));
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: parsed });
        });
      });
      req.on('error', reject);
      if (body && options.chunked) {
        // Two writes with no Content-Length: node sends Transfer-Encoding: chunked.
        req.write(body.subarray(0, body.length >> 1));
        req.end(body.subarray(body.length >> 1));
      } else {
        req.end(body);
      }
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
