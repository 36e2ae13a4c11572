// Client figures: real registry clients against both registries, the same image, the same client.
//
//   - skopeo copy of a 5-layer image (~200 MiB, an OCI layout the bench writes) into each registry
//     (oci:<dir> → docker://127.0.0.1:<port>/…) and back out (→ oci:<dir>), seconds;
//   - docker push / docker pull of the same image with a private dockerd (test/helpers/dockerd.ts:
//     own socket, data root, containerd namespace; no bridge, no iptables), seconds.
//
// Every run gets an image with new random layers, made before the clock starts, and a new
// repository: a client that knew the blobs (skopeo's blob-info cache, dockerd's layer metadata)
// would mount or skip them instead of sending the bytes. Registries alternate who goes first.
// Layers are gzip at level 1 (random bytes do not compress: the blob is the size of the data),
// so skopeo sends them as they are; docker push compresses each layer itself (client-bound), and
// docker pull decompresses and unpacks them (vfs storage driver): both registries see the same.
import { randomFillSync, createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startDockerd, type Dockerd } from '../test/helpers/dockerd.js';
import { tarHeader, tarPadding, TAR_END } from '../test/helpers/images.js';
import type { PerRegistry } from './figures.js';
import type { Client } from './lib/client.js';
import type { RegistryName, RegistryProc } from './lib/procs.js';
import { MiB, spread, type Spread } from './lib/stats.js';
import { runOk } from './lib/system.js';

export interface ClientFigureContext {
  regs: RegistryProc[];
  clients: Map<string, Client>;
  runs: number;
  tmp: string;
  log: (s: string) => void;
  notes: string[];
}

export interface ClientRow {
  /** row label in the results table */
  title: string;
  unit: string;
  better: 'higher' | 'lower';
  values: PerRegistry<Spread>;
}

export interface ClientFigure {
  name: string;
  /** executables it needs and the Debian packages that bring them */
  tools: Array<{ tool: string; pkg: string }>;
  run(ctx: ClientFigureContext): Promise<ClientRow[]>;
}

const LAYERS = 5;
const LAYER_BYTES = 40 * MiB;
const MT_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MT_CONFIG = 'application/vnd.oci.image.config.v1+json';
const MT_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** One random buffer for all layers; each layer of each run gets its own first bytes. */
let random: Buffer | undefined;
let imageSerial = 0;

/**
 * Writes an OCI layout at dir, tag `bench`: one linux/amd64 image of LAYERS layers, each a tar of
 * one file of LAYER_BYTES random bytes, gzip level 1. Returns the total bytes of its blobs.
 */
function writeImage(dir: string): { bytes: number } {
  random ??= randomFillSync(Buffer.allocUnsafe(LAYER_BYTES));
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const put = (b: Buffer) => {
    const d = sha256(b);
    writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const serial = ++imageSerial;
  const layers: Array<{ mediaType: string; digest: string; size: number }> = [];
  const diffIds: string[] = [];
  let bytes = 0;
  for (let i = 0; i < LAYERS; i++) {
    random.writeUInt32BE(serial, 0);
    random.writeUInt32BE(i, 4);
    randomFillSync(random, 8, 8);
    const name = `layer${i}/data.bin`;
    const tar = Buffer.concat([tarHeader(`layer${i}/`, 0, { type: 'dir' }), tarHeader(name, LAYER_BYTES), random, tarPadding(LAYER_BYTES), TAR_END]);
    diffIds.push(sha256(tar));
    const gz = gzipSync(tar, { level: 1 });
    layers.push({ mediaType: MT_LAYER, digest: put(gz), size: gz.length });
    bytes += gz.length;
  }
  const config = Buffer.from(
    JSON.stringify({
      created: '2026-01-01T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/not-a-program'], Labels: { 'berth.bench': String(serial) } },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map(() => ({ created: '2026-01-01T00:00:00Z', created_by: 'berth bench' })),
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MT_MANIFEST, config: { mediaType: MT_CONFIG, digest: put(config), size: config.length }, layers }),
  );
  const manifestDigest = put(manifest);
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: MT_MANIFEST, digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }],
    }),
  );
  return { bytes: bytes + config.length + manifest.length };
}

function host(reg: RegistryProc): string {
  return new URL(reg.url).host;
}

/** Registries in the order of run i: B D, D B, … */
function order(regs: RegistryProc[], i: number): RegistryProc[] {
  return i % 2 === 0 ? regs : [...regs].reverse();
}

function collect(v: PerRegistry<number[]>): PerRegistry<Spread> {
  const o: PerRegistry<Spread> = {};
  for (const [k, vals] of Object.entries(v) as Array<[RegistryName, number[]]>) o[k] = spread(vals);
  return o;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

const skopeo: ClientFigure = {
  name: 'skopeo copy',
  tools: [{ tool: 'skopeo', pkg: 'skopeo' }],
  async run(ctx) {
    const push: PerRegistry<number[]> = {};
    const pull: PerRegistry<number[]> = {};
    let mib = 0;
    ctx.log(`client figures: skopeo copy of a ${LAYERS}-layer image in and out, ${ctx.runs} runs + 1 warm-up`);
    for (let i = 0; i <= ctx.runs; i++) {
      const src = join(ctx.tmp, `skopeo-src-${i}`);
      mib = writeImage(src).bytes / MiB;
      for (const reg of order(ctx.regs, i)) {
        const ref = `docker://${host(reg)}/clients/skopeo-${i}:bench`;
        const up = await timed(() => runOk('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${src}:bench`, ref], { timeoutMs: 300_000 }));
        const out = join(ctx.tmp, `skopeo-out-${i}-${reg.name}`);
        const down = await timed(() => runOk('skopeo', ['copy', '--quiet', '--src-tls-verify=false', ref, `oci:${out}:bench`], { timeoutMs: 300_000 }));
        rmSync(out, { recursive: true, force: true });
        if (i > 0) {
          (push[reg.name] ??= []).push(up);
          (pull[reg.name] ??= []).push(down);
        }
      }
      rmSync(src, { recursive: true, force: true });
    }
    const size = `${LAYERS} layers, ${mib.toFixed(0)} MiB`;
    return [
      { title: `10. skopeo copy oci: layout → registry (${size})`, unit: 's', better: 'lower', values: collect(push) },
      { title: `10. skopeo copy registry → oci: layout (${size})`, unit: 's', better: 'lower', values: collect(pull) },
    ];
  },
};

const docker: ClientFigure = {
  name: 'docker push/pull',
  tools: [
    { tool: 'dockerd', pkg: 'docker.io' },
    { tool: 'docker', pkg: 'docker.io' },
    { tool: 'skopeo', pkg: 'skopeo' },
  ],
  async run(ctx) {
    const push: PerRegistry<number[]> = {};
    const pull: PerRegistry<number[]> = {};
    let mib = 0;
    ctx.log(`client figures: docker push and pull of the ${LAYERS}-layer image (private dockerd), ${ctx.runs} runs + 1 warm-up`);
    let d: Dockerd | undefined;
    try {
      d = await startDockerd();
      const dockerd = d;
      // Nothing of the image may stay in dockerd between steps, or a pull skips layers it has.
      const forget = async () => {
        const ids = (await dockerd.dockerOk(['image', 'ls', '-aq'])).stdout.split('\n').filter(Boolean);
        if (ids.length > 0) await dockerd.docker(['rmi', '-f', ...new Set(ids)]);
        await dockerd.dockerOk(['image', 'prune', '-af']);
      };
      for (let i = 0; i <= ctx.runs; i++) {
        const src = join(ctx.tmp, `docker-src-${i}`);
        mib = writeImage(src).bytes / MiB;
        const archive = join(ctx.tmp, `docker-${i}.tar`);
        const local = `bench/clients:${i}`;
        // into dockerd without any registry: an archive skopeo writes, docker load (not timed)
        await runOk('skopeo', ['copy', '--quiet', `oci:${src}:bench`, `docker-archive:${archive}:${local}`], { timeoutMs: 300_000 });
        rmSync(src, { recursive: true, force: true });
        const regs = order(ctx.regs, i);
        for (const reg of regs) {
          await dockerd.dockerOk(['load', '-q', '-i', archive], { timeoutMs: 300_000 });
          const ref = `${host(reg)}/clients/docker-${i}:bench`;
          await dockerd.dockerOk(['tag', local, ref]);
          const up = await timed(() => dockerd.dockerOk(['push', '-q', ref], { timeoutMs: 300_000 }));
          await forget();
          const down = await timed(() => dockerd.dockerOk(['pull', '-q', ref], { timeoutMs: 300_000 }));
          await forget();
          if (i > 0) {
            (push[reg.name] ??= []).push(up);
            (pull[reg.name] ??= []).push(down);
          }
        }
        rmSync(archive, { force: true });
      }
    } finally {
      await d?.stop();
    }
    const size = `${LAYERS} layers, ${mib.toFixed(0)} MiB`;
    return [
      { title: `11. docker push (${size}; dockerd gzips each layer)`, unit: 's', better: 'lower', values: collect(push) },
      { title: `11. docker pull (${size}; dockerd unpacks into vfs)`, unit: 's', better: 'lower', values: collect(pull) },
    ];
  },
};

export const clientFigures: ClientFigure[] = [skopeo, docker];

