// Test images made locally (no Docker Hub): random file content so every run has unique digests.
//
//  - buildDockerImage(): `docker build` of FROM scratch (or a base built here) + one COPY per layer
//  - readFilesFromImage(): `docker create` + `docker cp` to read files back out of an image
//  - writeOciLayout(): an OCI image layout directory (oci-layout, index.json, blobs/sha256/…)
//    holding a multi-platform image index, written from TypeScript with a minimal tar writer
//    and node:zlib, for `skopeo copy --all oci:<dir>:<tag> docker://…`
//  - writeLargeOciImage(): the same with one big random layer, streamed (never all in memory)
//  - readOciLayout(): read a layout back (e.g. one skopeo copied out of the registry)
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gzipSync } from 'node:zlib';
import type { Dockerd } from './dockerd.js';

export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

export interface FileSpec {
  /** path inside the image, without a leading slash: "app/data.bin" */
  path: string;
  content: Buffer;
  mode?: number;
}

export function sha256(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export function randomId(n = 6): string {
  return randomBytes(n).toString('hex');
}

/** A few files with random bytes; `prefix` keeps layers' paths apart. */
export function randomFiles(prefix: string, count: number, size = 4096): FileSpec[] {
  const files: FileSpec[] = [];
  for (let i = 0; i < count; i++) {
    files.push({ path: `${prefix}/file-${i}.bin`, content: randomBytes(size + i) });
  }
  // one text file too, readable in failure messages
  files.push({ path: `${prefix}/id.txt`, content: Buffer.from(`${prefix} ${randomId()}\n`) });
  return files;
}

// ---------------------------------------------------------------------------------------------
// Minimal tar (ustar) writer: regular files and directories, names < 100 bytes (or split into
// prefix/name at a slash up to 255 bytes).

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

export function tarHeader(name: string, size: number, opts: { mode?: number; type?: 'file' | 'dir'; mtime?: number } = {}): Buffer {
  const h = Buffer.alloc(512, 0);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`tar: name too long: ${name}`);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  const type = opts.type ?? 'file';
  h.write(base, 0, 100, 'utf8');
  h.write(octal(opts.mode ?? (type === 'dir' ? 0o755 : 0o644), 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii'); // uid
  h.write(octal(0, 8), 116, 8, 'ascii'); // gid
  h.write(octal(type === 'dir' ? 0 : size, 12), 124, 12, 'ascii');
  h.write(octal(opts.mtime ?? 1_700_000_000, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii'); // checksum placeholder: spaces
  h.write(type === 'dir' ? '5' : '0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

export function tarPadding(size: number): Buffer {
  const rem = size % 512;
  return Buffer.alloc(rem === 0 ? 0 : 512 - rem, 0);
}

export const TAR_END = Buffer.alloc(1024, 0);

/** A tar archive (as a Buffer) of the files, with their parent directories. */
export function makeTar(files: readonly FileSpec[]): Buffer {
  const parts: Buffer[] = [];
  const dirs = new Set<string>();
  for (const f of files) {
    const segs = f.path.split('/').slice(0, -1);
    for (let i = 1; i <= segs.length; i++) {
      const d = segs.slice(0, i).join('/') + '/';
      if (!dirs.has(d)) {
        dirs.add(d);
        parts.push(tarHeader(d, 0, { type: 'dir' }));
      }
    }
    parts.push(tarHeader(f.path, f.content.length, { mode: f.mode }), f.content, tarPadding(f.content.length));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

/** Parses a tar (uncompressed) into its regular files. Enough to check layer contents. */
export function parseTar(buf: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let off = 0;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const cstr = (s: number, l: number) => {
      const raw = h.subarray(s, s + l);
      const z = raw.indexOf(0);
      return raw.subarray(0, z === -1 ? l : z).toString('utf8');
    };
    const name = cstr(0, 100);
    const prefix = cstr(345, 155);
    const size = Number.parseInt(cstr(124, 12).trim() || '0', 8);
    const type = cstr(156, 1) || '0';
    const full = (prefix ? `${prefix}/${name}` : name).replace(/^\.\//, '').replace(/^\//, '');
    off += 512;
    if (type === '0' || type === '\0') files.set(full, Buffer.from(buf.subarray(off, off + size)));
    off += size + tarPadding(size).length;
  }
  return files;
}

// ---------------------------------------------------------------------------------------------
// Docker images

export interface BuiltImage {
  /** the name:tag given to `docker build -t` */
  tag: string;
  /** image id (sha256:… of the config) */
  id: string;
  /** every file the image contains, by path without a leading slash */
  files: FileSpec[];
  /** number of layers in the image */
  layerCount: number;
}

export interface BuildOptions {
  tag: string;
  /** a local image to build on (e.g. a base from an earlier buildDockerImage); default scratch */
  from?: BuiltImage;
  /** one COPY (so one layer) per entry */
  layers: FileSpec[][];
}

/**
 * `docker build` of FROM <base|scratch> + one COPY per layer, with a CMD so that
 * `docker create` works on it (nothing is ever run).
 */
export async function buildDockerImage(dockerd: Dockerd, opts: BuildOptions): Promise<BuiltImage> {
  const ctx = await mkdtemp(join(dockerd.workDir, 'build-'));
  const lines = [`FROM ${opts.from ? opts.from.id : 'scratch'}`];
  for (const [i, layer] of opts.layers.entries()) {
    const layerDir = join(ctx, `layer${i}`);
    for (const f of layer) {
      const p = join(layerDir, f.path);
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, f.content, { mode: f.mode ?? 0o644 });
    }
    lines.push(`COPY layer${i}/ /`);
  }
  lines.push('CMD ["/not-a-program"]');
  await writeFile(join(ctx, 'Dockerfile'), lines.join('\n') + '\n');
  await dockerd.dockerOk(['build', '--quiet', '-t', opts.tag, ctx], { timeoutMs: 180_000 });
  const id = (await dockerd.dockerOk(['image', 'inspect', '--format', '{{.Id}}', opts.tag])).stdout.trim();
  await rm(ctx, { recursive: true, force: true });
  const files = [...(opts.from?.files ?? []), ...opts.layers.flat()];
  return { tag: opts.tag, id, files, layerCount: (opts.from?.layerCount ?? 0) + opts.layers.length };
}

/** Reads files out of a local image: `docker create` (never started) + `docker cp`. */
export async function readFilesFromImage(dockerd: Dockerd, image: string, paths: readonly string[]): Promise<Map<string, Buffer>> {
  const cid = (await dockerd.dockerOk(['create', image])).stdout.trim();
  const out = await mkdtemp(join(dockerd.workDir, 'cp-'));
  try {
    const result = new Map<string, Buffer>();
    for (const [i, p] of paths.entries()) {
      const dest = join(out, String(i));
      await dockerd.dockerOk(['cp', `${cid}:/${p}`, dest]);
      result.set(p, await readFile(dest));
    }
    return result;
  } finally {
    await dockerd.docker(['rm', '-f', cid]);
    await rm(out, { recursive: true, force: true });
  }
}

/** Removes images locally (untag + delete) and prunes, so the next pull must download. */
export async function removeLocalImages(dockerd: Dockerd, refs: readonly string[]): Promise<void> {
  if (refs.length > 0) await dockerd.docker(['rmi', '-f', ...refs]);
  await dockerd.dockerOk(['image', 'prune', '-af']);
}

// ---------------------------------------------------------------------------------------------
// OCI image layout

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface OciPlatformImage {
  platform: { architecture: string; os: string; variant?: string };
  manifest: Descriptor;
  manifestBytes: Buffer;
  config: Descriptor;
  layers: Descriptor[];
  /** files per layer (the uncompressed content) */
  layerFiles: FileSpec[][];
}

export interface OciLayout {
  dir: string;
  tag: string;
  /** the descriptor index.json points at under the tag (an image index, or a manifest) */
  root: Descriptor;
  rootBytes: Buffer;
  images: OciPlatformImage[];
  /** every blob in blobs/sha256 (manifests, configs, layers, index) */
  blobs: Map<string, number>;
}

async function putBlob(dir: string, bytes: Buffer, blobs: Map<string, number>): Promise<string> {
  const digest = sha256(bytes);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
  blobs.set(digest, bytes.length);
  return digest;
}

async function initLayout(dir: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
}

function json(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v));
}

export interface OciLayoutOptions {
  tag: string;
  /** default: linux/amd64 and linux/arm64 */
  platforms?: { architecture: string; os: string; variant?: string }[];
  /** layers (file lists) shared by every platform, first in each manifest */
  sharedLayers?: FileSpec[][];
  /** number of platform-specific layers per platform (default 2) */
  ownLayers?: number;
}

/**
 * Writes an OCI layout whose tag points at a multi-platform image index. Each platform gets a
 * config and layers (shared ones + its own random ones), gzip tar layers.
 */
export async function writeOciLayout(dir: string, opts: OciLayoutOptions): Promise<OciLayout> {
  await initLayout(dir);
  const blobs = new Map<string, number>();
  const platforms = opts.platforms ?? [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64' },
  ];
  const images: OciPlatformImage[] = [];
  for (const platform of platforms) {
    const layerFiles: FileSpec[][] = [...(opts.sharedLayers ?? [])];
    for (let i = 0; i < (opts.ownLayers ?? 2); i++) {
      layerFiles.push(randomFiles(`${platform.architecture}/layer${i}`, 3, 2048 + i * 1024));
    }
    const layers: Descriptor[] = [];
    const diffIds: string[] = [];
    for (const files of layerFiles) {
      const tar = makeTar(files);
      diffIds.push(sha256(tar));
      // fixed gzip header mtime: identical shared layers compress to identical blobs
      const gz = gzipSync(tar, { level: 6 });
      const digest = await putBlob(dir, gz, blobs);
      layers.push({ mediaType: MT.ociLayerGzip, digest, size: gz.length });
    }
    const configBytes = json({
      created: '2024-01-01T00:00:00Z',
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: { Cmd: ['/not-a-program'], Labels: { 'berth.e2e': randomId() } },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'berth e2e' })),
    });
    const configDigest = await putBlob(dir, configBytes, blobs);
    const config: Descriptor = { mediaType: MT.ociConfig, digest: configDigest, size: configBytes.length };
    const manifestBytes = json({ schemaVersion: 2, mediaType: MT.ociManifest, config, layers });
    const manifestDigest = await putBlob(dir, manifestBytes, blobs);
    images.push({
      platform,
      manifest: { mediaType: MT.ociManifest, digest: manifestDigest, size: manifestBytes.length, platform },
      manifestBytes,
      config,
      layers,
      layerFiles,
    });
  }
  const rootBytes = json({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: images.map((i) => i.manifest) });
  const rootDigest = await putBlob(dir, rootBytes, blobs);
  const root: Descriptor = {
    mediaType: MT.ociIndex,
    digest: rootDigest,
    size: rootBytes.length,
    annotations: { 'org.opencontainers.image.ref.name': opts.tag },
  };
  await writeFile(join(dir, 'index.json'), json({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [root] }));
  return { dir, tag: opts.tag, root, rootBytes, images, blobs };
}

/** A stream of `size` random bytes, in 1 MiB chunks. */
function randomStream(size: number): Readable {
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, 1 << 20);
      left -= n;
      this.push(randomBytes(n));
    },
  });
}

function hashingPassThrough(): { stream: Transform; digest: () => string; size: () => number } {
  const h = createHash('sha256');
  let n = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      n += chunk.length;
      cb(null, chunk);
    },
  });
  let d: string | null = null;
  return { stream, digest: () => (d ??= 'sha256:' + h.digest('hex')), size: () => n };
}

/**
 * An OCI layout with a single-platform image (linux/amd64) whose tag points at a manifest with
 * one small layer and one big layer: a tar holding one file of `bigBytes` random bytes, gzipped
 * (level 1: random data does not compress anyway). Streamed: memory does not grow with size.
 */
export async function writeLargeOciImage(dir: string, opts: { tag: string; bigBytes: number }): Promise<OciLayout & { bigLayer: Descriptor }> {
  await initLayout(dir);
  const blobs = new Map<string, number>();
  const small = makeTar(randomFiles('small', 2));
  const smallGz = gzipSync(small);
  const smallDigest = await putBlob(dir, smallGz, blobs);

  const tmp = join(dir, 'blobs', 'big.tmp');
  const tarHash = hashingPassThrough();
  const gzHash = hashingPassThrough();
  const name = 'big/random.bin';
  async function* tarStream() {
    yield tarHeader('big/', 0, { type: 'dir' });
    yield tarHeader(name, opts.bigBytes);
    for await (const chunk of randomStream(opts.bigBytes)) yield chunk as Buffer;
    yield tarPadding(opts.bigBytes);
    yield TAR_END;
  }
  await pipeline(Readable.from(tarStream()), tarHash.stream, createGzip({ level: 1 }), gzHash.stream, createWriteStream(tmp));
  const bigDigest = gzHash.digest();
  await rename(tmp, join(dir, 'blobs', 'sha256', bigDigest.slice(7)));
  blobs.set(bigDigest, gzHash.size());
  const layers: Descriptor[] = [
    { mediaType: MT.ociLayerGzip, digest: smallDigest, size: smallGz.length },
    { mediaType: MT.ociLayerGzip, digest: bigDigest, size: gzHash.size() },
  ];
  const platform = { os: 'linux', architecture: 'amd64' };
  const configBytes = json({
    created: '2024-01-01T00:00:00Z',
    ...platform,
    config: { Cmd: ['/not-a-program'], Labels: { 'berth.e2e': randomId() } },
    rootfs: { type: 'layers', diff_ids: [sha256(small), tarHash.digest()] },
  });
  const configDigest = await putBlob(dir, configBytes, blobs);
  const config: Descriptor = { mediaType: MT.ociConfig, digest: configDigest, size: configBytes.length };
  const manifestBytes = json({ schemaVersion: 2, mediaType: MT.ociManifest, config, layers });
  const manifestDigest = await putBlob(dir, manifestBytes, blobs);
  const root: Descriptor = {
    mediaType: MT.ociManifest,
    digest: manifestDigest,
    size: manifestBytes.length,
    annotations: { 'org.opencontainers.image.ref.name': opts.tag },
  };
  await writeFile(join(dir, 'index.json'), json({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [root] }));
  const image: OciPlatformImage = {
    platform,
    manifest: { mediaType: MT.ociManifest, digest: manifestDigest, size: manifestBytes.length },
    manifestBytes,
    config,
    layers,
    layerFiles: [],
  };
  return { dir, tag: opts.tag, root, rootBytes: manifestBytes, images: [image], blobs, bigLayer: layers[1]! };
}

/** sha256 of a file, streamed. */
export async function fileDigest(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return 'sha256:' + h.digest('hex');
}

export interface ReadLayout {
  index: { manifests: Descriptor[] };
  /** digest → size of every file in blobs/sha256 */
  blobs: Map<string, number>;
  blobPath(digest: string): string;
  readBlob(digest: string): Promise<Buffer>;
}

/** Reads an OCI layout directory (e.g. one `skopeo copy … oci:<dir>:<tag>` wrote). */
export async function readOciLayout(dir: string): Promise<ReadLayout> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const blobs = new Map<string, number>();
  const blobDir = join(dir, 'blobs', 'sha256');
  for (const name of await readdir(blobDir)) {
    blobs.set(`sha256:${name}`, (await stat(join(blobDir, name))).size);
  }
  const blobPath = (digest: string) => join(dir, 'blobs', ...digest.split(':'));
  return { index, blobs, blobPath, readBlob: (d) => readFile(blobPath(d)) };
}
