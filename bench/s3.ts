// The S3 section of the bench (`npm run bench -- --s3`, or `--s3-only`): Berth with BERTH_STORAGE=s3
// against s3rver (the S3 test server of the test suite, test/helpers/s3rver.ts, in a child process
// on 127.0.0.1, with the multipart listing calls of lib/s3-extended.cjs), next to CNCF Distribution
// 2.8's s3 driver and the AWS SDK talking to the same s3rver, in the same run:
//
//   - SDK direct: CreateMultipartUpload + UploadPart (8 MiB parts, one at a time) + Complete of the
//     blob from memory, and GetObject of it, read to the end → MiB/s;
//   - Berth: monolithic push (POST + PUT with the body), chunked push (8 MiB PATCHes), one-PATCH push
//     (POST, one PATCH of everything, empty PUT: what docker does) and pull (GET) → MiB/s; pull with
//     BERTH_S3_REDIRECT=true (a second Berth: GET → 307 → GET of the presigned URL from s3rver);
//   - Distribution (s3 driver, chunksize = the PATCH size, CopyObject for every move): the same
//     pushes and pulls (redirect pull: a second instance with its redirect on), manifest GET/HEAD by
//     tag and small image pushes (figures.ts), registries interleaved run by run;
//   - ratio Berth / SDK (issue 3 target ≥ 0.70) and Berth / Distribution;
//   - peak RSS of Berth's node process and of Distribution (kernel VmHWM, reset per phase, plus VmRSS
//     sampled every 100 ms) while pushing a 1 GiB blob in 8 MiB PATCHes and in one PATCH (Berth's
//     limit 150 MiB).
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { randomBytes, randomFillSync } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DistributionS3Options } from '../test/helpers/distribution.js';
import { startS3rver, type TestS3 } from '../test/helpers/s3rver.js';
import { makeImage, Client, sha256, withQuery } from './lib/client.js';
import { readFileSync } from 'node:fs';
import { manifestLoad, smallImages, type Ctx, type Fig, type LoadFigures, type Settings } from './figures.js';
import { cpuMeter, descendants, MemSampler, processCpuSeconds, startBerth, startDistribution, type RegistryName, type RegistryProc } from './lib/procs.js';
import { cell, MiB, num, spread, type Spread } from './lib/stats.js';
import { cpuBusyOver, loadavg, machineInfo } from './lib/system.js';

export interface S3Options {
  /** Berth's built tree (dist/cli.js inside) */
  berthRoot: string;
  berthDescribed: string;
  tmp: string;
  runs: number;
  blobBytes: number;
  chunkBytes: number;
  bigBlobBytes: number;
  /** the fs section's settings: manifest load and small image figures reuse them */
  settings: Settings;
  log: (s: string) => void;
  command: string;
}

const TARGET_RATIO = 0.7;
const RSS_LIMIT_MIB = 150;
/** at most this many seconds per manifest load run and images per small-image run here (the fs section: 10 s, 200 images) */
const S3_LOAD_SECONDS = 5;
const S3_IMAGES = 100;
/** Distribution's multipartcopythresholdsize: its maximum, so it moves blobs with CopyObject (s3rver has no UploadPartCopy) */
const DIST_COPY_THRESHOLD = 5 * 1024 * 1024 * 1024;
const EXTENSION = join(dirname(fileURLToPath(import.meta.url)), 'lib', 's3-extended.cjs');

interface S3Row {
  figure: string;
  berth?: Spread;
  dist?: Spread;
  sdk?: Spread;
  /** ratio target text */
  target: string;
  unit: string;
  better?: 'higher' | 'lower';
  /** CPU seconds per GiB: Berth (node + its PostgreSQL), Distribution */
  cpu?: Spread;
  distCpu?: Spread;
  digits?: number;
}

let uniq = 0;
/** Rewrites the head of the buffer so this push's content is new; returns the digest of `parts`. */
function freshen(data: Buffer, parts: readonly Buffer[] = [data]): string {
  data.writeUInt32BE(++uniq, 0);
  randomBytes(12).copy(data, 4);
  return sha256(parts);
}

function secs(t0: number): number {
  return (performance.now() - t0) / 1000;
}

/** POST, one PATCH with every byte (no Content-Range, as docker sends it), PUT ?digest= with no body. */
async function pushOnePatch(c: Client, repo: string, parts: readonly Buffer[], digest: string): Promise<void> {
  const loc = await c.startUpload(repo);
  const a = await c.expect(202, 'PATCH', c.url(loc).href, { body: parts, headers: { 'Content-Type': 'application/octet-stream' }, timeoutMs: 600_000 });
  await c.expect(201, 'PUT', withQuery(c.url(a.headers.location ?? loc), { digest }), { timeoutMs: 600_000 });
}

/** Chunked push of `parts` (each a multiple of `chunk` long) in PATCHes of `chunk` bytes. */
async function pushChunkedParts(c: Client, repo: string, parts: readonly Buffer[], digest: string, chunk: number): Promise<void> {
  let loc = await c.startUpload(repo);
  let off = 0;
  for (const p of parts) {
    for (let o = 0; o < p.length; o += chunk) {
      const piece = p.subarray(o, Math.min(p.length, o + chunk));
      const a = await c.expect(202, 'PATCH', c.url(loc).href, {
        body: piece,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${off}-${off + piece.length - 1}` },
      });
      off += piece.length;
      loc = a.headers.location ?? loc;
    }
  }
  await c.expect(201, 'PUT', withQuery(c.url(loc), { digest }), { timeoutMs: 600_000 });
}

async function sdkUpload(s3: TestS3, key: string, data: Buffer, part: number): Promise<void> {
  const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: key }));
  const parts: Array<{ ETag: string; PartNumber: number }> = [];
  for (let off = 0, n = 1; off < data.length; off += part, n++) {
    const body = data.subarray(off, Math.min(data.length, off + part));
    const r = await s3.client.send(new UploadPartCommand({ Bucket: s3.bucket, Key: key, UploadId, PartNumber: n, Body: body, ContentLength: body.length }));
    parts.push({ ETag: r.ETag!, PartNumber: n });
  }
  await s3.client.send(new CompleteMultipartUploadCommand({ Bucket: s3.bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
}

async function sdkDownload(s3: TestS3, key: string): Promise<number> {
  const r = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  let n = 0;
  for await (const c of r.Body as AsyncIterable<Uint8Array>) n += c.length;
  return n;
}

/** GET the blob from Berth, expect a 307, GET the presigned URL from s3rver; returns the bytes. */
async function pullRedirect(berth: Client, s3c: Client, repo: string, digest: string): Promise<number> {
  const a = await berth.expect(307, 'GET', `/v2/${repo}/blobs/${digest}`, { discard: true });
  const to = a.headers.location;
  if (!to) throw new Error('307 without Location');
  const b = await s3c.expect(200, 'GET', to, { discard: true, timeoutMs: 600_000 });
  return b.bytes;
}

function ratioCell(r: S3Row): string {
  const b = r.berth?.median;
  const s = r.sdk?.median;
  if (b === undefined || s === undefined || !Number.isFinite(b) || !Number.isFinite(s) || s === 0) return '—';
  const x = b / s;
  return `${x.toFixed(2)} ${x >= TARGET_RATIO ? '✓' : '✗'}`;
}

/** Berth's median over Distribution's, written as the fs table writes it (bench/report.ts). */
function distRatioCell(r: S3Row): string {
  const b = r.berth?.median;
  const d = r.dist?.median;
  if (b === undefined || d === undefined || !Number.isFinite(b) || !Number.isFinite(d) || d === 0) return '—';
  return `${(b / d).toFixed(2)}×${r.better === 'lower' ? ' (lower is better)' : ' (higher is better)'}`;
}

export async function runS3(o: S3Options): Promise<{ report: string; notes: string[] }> {
  const t00 = performance.now();
  const notes: string[] = [];
  const loadBefore = loadavg();
  const busyBefore = await cpuBusyOver(2000);
  const machine = await machineInfo();
  const startedAt = new Date().toISOString();
  o.log(`S3: load ${loadBefore}, ${(busyBefore * 100).toFixed(0)} % busy; starting s3rver`);

  // Berth, the SDK and Distribution all go through the extension (it is s3rver's own outermost
  // middleware: no hop, bodies untouched); only Distribution uses its calls.
  const s3 = await startS3rver({ extend: EXTENSION });
  const procs: RegistryProc[] = [];
  const clients: Client[] = [];
  try {
    const s3env = (redirect: boolean): Record<string, string> => ({
      BERTH_STORAGE: 's3',
      BERTH_S3_ENDPOINT: s3.endpoint,
      BERTH_S3_BUCKET: s3.bucket,
      BERTH_S3_FORCE_PATH_STYLE: 'true',
      BERTH_S3_CREATE_BUCKET: 'true',
      BERTH_S3_REDIRECT: redirect ? 'true' : 'false',
      // the second instance keeps its objects apart (it has its own database)
      ...(redirect ? { BERTH_S3_PREFIX: 'redirect/' } : {}),
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
    });
    const s3pid = descendants(process.pid).find((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes("require('s3rver')");
      } catch {
        return false;
      }
    });
    if (s3pid === undefined) notes.push('the s3rver process was not found: no s3rver CPU figures');
    const s3cpu = () => (s3pid === undefined ? NaN : processCpuSeconds(s3pid));
    const distS3 = (redirect: boolean): DistributionS3Options => ({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      bucket: s3.bucket,
      accessKey: 'S3RVER',
      secretKey: 'S3RVER',
      // its parts the size of the PATCHes and of the SDK's and Berth's parts (its default is 10 MiB)
      chunkSize: o.chunkBytes,
      multipartCopyThresholdSize: DIST_COPY_THRESHOLD,
      rootDirectory: redirect ? '/distribution-redirect' : '/distribution',
      redirect,
    });
    const dirs = ['s3-berth', 's3-berth-redirect', 's3-distribution', 's3-distribution-redirect'].map((d) => join(o.tmp, d));
    for (const d of dirs) mkdirSync(d);
    o.log(`S3: s3rver at ${s3.endpoint}, bucket ${s3.bucket}; starting Berth and Distribution (stream and redirect each)`);
    const started = await Promise.allSettled([
      startBerth({ repoRoot: o.berthRoot, dataDir: dirs[0]!, extraEnv: s3env(false) }),
      startBerth({ repoRoot: o.berthRoot, dataDir: dirs[1]!, extraEnv: s3env(true) }),
      startDistribution({ dataDir: dirs[2]!, s3: distS3(false) }),
      startDistribution({ dataDir: dirs[3]!, s3: distS3(true) }),
    ]);
    for (const r of started) if (r.status === 'fulfilled') procs.push(r.value);
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    const [berth, berthRedirect, dist, distRedirect] = procs as [RegistryProc, RegistryProc, RegistryProc, RegistryProc];
    const bc = new Client(berth.url);
    const rc = new Client(berthRedirect.url);
    const dc = new Client(dist.url);
    const drc = new Client(distRedirect.url);
    const s3c = new Client(s3.endpoint);
    clients.push(bc, rc, dc, drc, s3c);
    o.log(`S3: Berth pid ${berth.pid} at ${berth.url}; Berth (redirect) pid ${berthRedirect.pid}; Distribution pid ${dist.pid} at ${dist.url}; Distribution (redirect) pid ${distRedirect.pid}`);
    interface Reg {
      /** key prefix of its figures */
      k: 'B' | 'D';
      proc: RegistryProc;
      c: Client;
      redirect: Client;
    }
    const B: Reg = { k: 'B', proc: berth, c: bc, redirect: rc };
    const D: Reg = { k: 'D', proc: dist, c: dc, redirect: drc };

    const data = Buffer.allocUnsafe(o.blobBytes);
    randomFillSync(data);
    const mb = o.blobBytes / MiB;

    // memory from here on: both registries' main processes (Berth's PostgreSQL too)
    const sampler = new MemSampler([berth, dist], 100);
    sampler.start();
    // 1 GiB pushes first, into processes that have served nothing else: the limit is about memory
    // growing with the blob, not about what other figures leave behind (a process's RSS does not
    // shrink when its heap does; the phases after report their own peaks). The blob is the 256 MiB
    // buffer repeated, each registry in turn.
    const reps = Math.max(1, Math.round(o.bigBlobBytes / o.blobBytes));
    const bigParts = Array.from({ length: reps }, () => data);
    const bigMiB = (reps * o.blobBytes) / MiB;
    const big: Record<string, number> = {};
    let bigOk = true;
    try {
      for (const [phase, fn] of [
        ['big chunked', (c: Client, d: string) => pushChunkedParts(c, 'bench/s3-big-chunked', bigParts, d, o.chunkBytes)],
        ['big one patch', (c: Client, d: string) => pushOnePatch(c, 'bench/s3-big-onepatch', bigParts, d)],
      ] as const) {
        sampler.phase(phase);
        for (const r of [B, D]) {
          const d = freshen(data, bigParts);
          o.log(`S3: ${phase}: ${bigMiB} MiB, ${r.proc.name}`);
          const t0 = performance.now();
          await fn(r.c, d);
          big[`${r.k} ${phase}`] = bigMiB / secs(t0);
        }
      }
    } catch (e) {
      bigOk = false;
      notes.push(`the ${bigMiB} MiB push failed: ${(e as Error).message.slice(0, 300)}`);
    }
    sampler.phase('throughput rounds');

    const v: Record<string, number[]> = {};
    const cpu: Record<string, number[]> = {};
    const scpu: Record<string, number[]> = {};
    const gib = o.blobBytes / (1024 * MiB);
    const put = (k: string, x: number, c?: number, sc?: number) => {
      (v[k] ??= []).push(x);
      if (c !== undefined) (cpu[k] ??= []).push(c);
      if (sc !== undefined && Number.isFinite(sc)) (scpu[k] ??= []).push(sc);
    };

    // The redirecting instances get their blob once (not measured).
    const redirectDigest = freshen(data);
    await rc.pushMonolithic('bench/s3-redirect', [data], redirectDigest);
    await drc.pushMonolithic('bench/s3-redirect', [data], redirectDigest);

    const total = o.runs + 1;
    for (let i = 0; i < total; i++) {
      const counted = i > 0;
      o.log(`S3: round ${i + 1}/${total}${counted ? '' : ' (warm-up)'}`);
      const rec = (k: string, x: number, c?: number, sc?: number) => {
        if (counted) put(k, x, c, sc);
      };
      const measure = async (r: Reg, k: string, fn: () => Promise<void>) => {
        const meter = cpuMeter(r.proc);
        const s0 = s3cpu();
        const t0 = performance.now();
        await fn();
        const t = secs(t0);
        rec(`${r.k} ${k}`, mb / t, meter() / gib, (s3cpu() - s0) / gib);
      };
      // Berth and Distribution alternate, figure by figure: B D on even rounds, D B on odd ones
      const regs = i % 2 === 0 ? [B, D] : [D, B];

      // pushes: SDK first on even rounds, last on odd ones
      const key = `sdk-direct/${i}`;
      const sdkUp = async () => {
        freshen(data);
        const s0 = s3cpu();
        const t0 = performance.now();
        await sdkUpload(s3, key, data, o.chunkBytes);
        rec('sdk up', mb / secs(t0), undefined, (s3cpu() - s0) / gib);
      };
      const monoDigest = new Map<Reg, string>();
      const registryPushes = async () => {
        for (const r of regs) {
          const d = freshen(data);
          monoDigest.set(r, d);
          await measure(r, 'mono', () => r.c.pushMonolithic('bench/s3-mono', [data], d));
        }
        for (const r of regs) {
          const d = freshen(data);
          await measure(r, 'chunked', () => pushChunkedParts(r.c, 'bench/s3-chunked', [data], d, o.chunkBytes));
        }
        for (const r of regs) {
          const d = freshen(data);
          await measure(r, 'one patch', () => pushOnePatch(r.c, 'bench/s3-onepatch', [data], d));
        }
      };
      if (i % 2 === 0) {
        await sdkUp();
        await registryPushes();
      } else {
        await registryPushes();
        await sdkUp();
      }

      // pulls
      const sdkDown = async () => {
        const s0 = s3cpu();
        const t0 = performance.now();
        const n = await sdkDownload(s3, key);
        if (n !== o.blobBytes) throw new Error(`SDK GetObject: ${n} bytes, expected ${o.blobBytes}`);
        rec('sdk down', mb / secs(t0), undefined, (s3cpu() - s0) / gib);
      };
      const registryPulls = async () => {
        for (const r of regs) {
          let n = 0;
          await measure(r, 'pull', async () => {
            n = await r.c.pull('bench/s3-mono', monoDigest.get(r)!);
          });
          if (n !== o.blobBytes) throw new Error(`${r.proc.name} pull: ${n} bytes, expected ${o.blobBytes}`);
        }
        for (const r of regs) {
          const s0 = s3cpu();
          const t0 = performance.now();
          const n = await pullRedirect(r.redirect, s3c, 'bench/s3-redirect', redirectDigest);
          if (n !== o.blobBytes) throw new Error(`${r.proc.name} redirect pull: ${n} bytes, expected ${o.blobBytes}`);
          rec(`${r.k} pull redirect`, mb / secs(t0), undefined, (s3cpu() - s0) / gib);
        }
      };
      if (i % 2 === 0) {
        await sdkDown();
        await registryPulls();
      } else {
        await registryPulls();
        await sdkDown();
      }
      await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: key }));
    }

    // manifest GET/HEAD by tag and small image pushes: the fs section's functions, on S3
    const figSettings: Settings = { ...o.settings, runs: o.runs, loadSeconds: Math.min(o.settings.loadSeconds, S3_LOAD_SECONDS), images: Math.min(o.settings.images, S3_IMAGES) };
    const ctx: Ctx = {
      settings: figSettings,
      regs: [berth, dist],
      clients: new Map<RegistryName, Client>([
        ['Berth', bc],
        ['Distribution', dc],
      ]),
      sampler,
      data,
      log: o.log,
      notes,
    };
    let loadF: LoadFigures;
    let images: Fig;
    try {
      loadF = await manifestLoad(ctx, makeImage([4096, 8192], 's3-manifest-load'));
      images = await smallImages(ctx);
    } finally {
      sampler.phase('after');
      sampler.stop();
    }
    const peak = (p: string, who: RegistryName = 'Berth') => sampler.get(p, who)?.mainPeak;
    const startupPeak = peak('start-up');
    const distStartupPeak = peak('start-up', 'Distribution');

    const sp = (k: string) => (v[k] ? spread(v[k]!) : undefined);
    const cp = (k: string) => (cpu[k] ? spread(cpu[k]!) : undefined);
    const scp = (k: string) => (scpu[k] ? spread(scpu[k]!) : undefined);
    const target = `≥ ${TARGET_RATIO.toFixed(2)}`;
    const rows: S3Row[] = [
      { figure: `push ${mb} MiB, monolithic (POST + PUT with body) — SDK: multipart upload`, berth: sp('B mono'), dist: sp('D mono'), sdk: sp('sdk up'), target, unit: 'MiB/s', cpu: cp('B mono'), distCpu: cp('D mono') },
      { figure: `push ${mb} MiB, chunked (${o.chunkBytes / MiB} MiB PATCHes) — SDK: multipart upload`, berth: sp('B chunked'), dist: sp('D chunked'), sdk: sp('sdk up'), target, unit: 'MiB/s', cpu: cp('B chunked'), distCpu: cp('D chunked') },
      { figure: `push ${mb} MiB, one PATCH + empty PUT (docker) — SDK: multipart upload`, berth: sp('B one patch'), dist: sp('D one patch'), sdk: sp('sdk up'), target, unit: 'MiB/s', cpu: cp('B one patch'), distCpu: cp('D one patch') },
      { figure: `pull ${mb} MiB, streamed through the registry — SDK: GetObject`, berth: sp('B pull'), dist: sp('D pull'), sdk: sp('sdk down'), target, unit: 'MiB/s', cpu: cp('B pull'), distCpu: cp('D pull') },
      { figure: `pull ${mb} MiB, redirect (307 + presigned GET; BERTH_S3_REDIRECT=true, Distribution's redirect on) — SDK: GetObject`, berth: sp('B pull redirect'), dist: sp('D pull redirect'), sdk: sp('sdk down'), target, unit: 'MiB/s' },
    ];
    const lc = figSettings.loadConnections;
    const otherRows: S3Row[] = [
      { figure: `manifest GET by tag, c=${lc}, ${figSettings.loadSeconds} s`, berth: loadF.get.rps.Berth, dist: loadF.get.rps.Distribution, target: '—', unit: 'req/s', better: 'higher' },
      { figure: 'manifest GET p99', berth: loadF.get.p99.Berth, dist: loadF.get.p99.Distribution, target: '—', unit: 'ms', better: 'lower', digits: 2 },
      { figure: `manifest HEAD by tag, c=${lc}, ${figSettings.loadSeconds} s`, berth: loadF.head.rps.Berth, dist: loadF.head.rps.Distribution, target: '—', unit: 'req/s', better: 'higher' },
      { figure: `small image pushes (${figSettings.images} images, config + 2 layers + manifest, c=${figSettings.imageConcurrency})`, berth: images.value.Berth, dist: images.value.Distribution, target: '—', unit: 'images/s', better: 'higher' },
    ];
    const lim = RSS_LIMIT_MIB * MiB;
    const memRows: Array<{ figure: string; peak?: number; distPeak?: number; rate?: number; distRate?: number }> = [
      { figure: `peak RSS, pushing ${bigMiB} MiB in ${o.chunkBytes / MiB} MiB PATCHes`, peak: peak('big chunked'), distPeak: peak('big chunked', 'Distribution'), rate: big['B big chunked'], distRate: big['D big chunked'] },
      { figure: `peak RSS, pushing ${bigMiB} MiB in one PATCH`, peak: peak('big one patch'), distPeak: peak('big one patch', 'Distribution'), rate: big['B big one patch'], distRate: big['D big one patch'] },
    ];
    for (const r of rows) {
      const b = r.berth?.median;
      const s = r.sdk?.median;
      if (b !== undefined && s !== undefined && b / s < TARGET_RATIO) notes.push(`${r.figure.split(' — ')[0]}: ratio ${(b / s).toFixed(2)} is below the ${TARGET_RATIO} target`);
    }
    for (const m of memRows) {
      if (m.peak === undefined || m.peak >= lim) notes.push(`${m.figure}: ${m.peak === undefined ? 'not measured' : `${num(m.peak / MiB)} MiB`}, not below ${RSS_LIMIT_MIB} MiB`);
    }
    if (!sampler.exact()) notes.push('the kernel peak (VmHWM) could not be reset per phase (no write access to /proc/<pid>/clear_refs): peaks are the 100-ms samples of VmRSS');

    const loadAfter = loadavg();
    const L: string[] = [];
    L.push(`# Berth on S3 (s3rver) vs CNCF Distribution's S3 driver and the AWS SDK direct — ${startedAt.slice(0, 10)}`, '');
    L.push(`\`${o.command}\` · started ${startedAt} · ${((performance.now() - t00) / 1000).toFixed(0)} s · Berth: ${o.berthDescribed}`, '');
    L.push(
      `Machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memTotalGiB.toFixed(1)} GiB, node ${machine.node}, ${machine.kernel}. ` +
        `Load average before: ${loadBefore} (${(busyBefore * 100).toFixed(0)} % busy over 2 s); after: ${loadAfter}. ` +
        'Everything (client, Berth, its embedded PostgreSQL, Distribution, s3rver) ran on this machine and talked over 127.0.0.1; other engineers were using the machine too.',
      '',
    );
    L.push(
      `Median (min–max) of ${o.runs} counted rounds after one warm-up round; each round runs every figure once, Berth and Distribution one after the other ` +
        'for each figure (Berth first in one round, Distribution in the next), the SDK before both in one round and after both in the next.',
      '',
    );
    L.push('| figure | Berth | Distribution | SDK direct | ratio Berth/Distribution | ratio Berth/SDK | target (Berth/SDK) |', '|---|---|---|---|---|---|---|');
    for (const r of rows) L.push(`| ${r.figure} (${r.unit}) | ${cell(r.berth)} | ${cell(r.dist)} | ${cell(r.sdk)} | ${distRatioCell(r)} | ${ratioCell(r)} | ${r.target} |`);
    for (const r of otherRows) L.push(`| ${r.figure} (${r.unit}) | ${cell(r.berth, r.digits)} | ${cell(r.dist, r.digits)} | — | ${distRatioCell(r)} | — | — |`);
    for (const m of memRows) {
      const ok = m.peak !== undefined && m.peak < lim;
      const mem = (x: number | undefined) => (x === undefined ? '—' : num(x / MiB));
      const ratio = m.peak !== undefined && m.distPeak ? `${(m.peak / m.distPeak).toFixed(2)}× (lower is better)` : '—';
      L.push(`| ${m.figure} (MiB; registry process, VmHWM) | ${mem(m.peak)} ${m.peak === undefined ? '' : ok ? '✓' : '✗'} | ${mem(m.distPeak)} | — | ${ratio} | — | Berth < ${RSS_LIMIT_MIB} MiB |`);
    }
    L.push('');
    L.push('Further figures:', '');
    L.push('| figure | Berth | Distribution |', '|---|---|---|');
    for (const r of rows) if (r.cpu || r.distCpu) L.push(`| registry CPU per GiB (Berth: node + PostgreSQL), ${r.figure.split(' — ')[0]} | ${cell(r.cpu, 2)} s | ${cell(r.distCpu, 2)} s |`);
    L.push(`| registry CPU per manifest GET | ${cell(loadF.get.cpu.Berth)} µs | ${cell(loadF.get.cpu.Distribution)} µs |`);
    L.push(`| registry CPU per small image | ${cell(images.cpu.Berth, 1)} ms | ${cell(images.cpu.Distribution, 1)} ms |`);
    L.push(`| manifest GET p50 | ${cell(loadF.get.p50.Berth, 2)} ms | ${cell(loadF.get.p50.Distribution, 2)} ms |`);
    const sKeys: Array<[string, string, string]> = [
      ['mono', 'monolithic push', ''],
      ['chunked', 'chunked push', ''],
      ['one patch', 'one-PATCH push', ''],
      ['pull', 'pull (streamed)', ''],
      ['pull redirect', 'pull (redirect)', ''],
    ];
    for (const [k, label] of sKeys) if (scp(`B ${k}`) || scp(`D ${k}`)) L.push(`| s3rver CPU per GiB during the registry's ${label} | ${cell(scp(`B ${k}`), 2)} s | ${cell(scp(`D ${k}`), 2)} s |`);
    for (const m of memRows) L.push(`| throughput of the ${m.figure.replace('peak RSS, ', '')} (1 run) | ${m.rate === undefined ? '—' : num(m.rate)} MiB/s | ${m.distRate === undefined ? '—' : num(m.distRate)} MiB/s |`);
    L.push(`| registry RSS after start-up (VmHWM, before the ${bigMiB} MiB pushes) | ${startupPeak === undefined ? '—' : num(startupPeak / MiB)} MiB | ${distStartupPeak === undefined ? '—' : num(distStartupPeak / MiB)} MiB |`);
    for (const [p, label] of [
      ['throughput rounds', `${mb} MiB throughput rounds (pushes, streamed and redirected pulls)`],
      ['4 manifest GET/HEAD load', 'manifest load'],
      ['5 small image pushes', 'small image pushes'],
    ] as const) {
      const b = peak(p);
      const d = peak(p, 'Distribution');
      L.push(`| peak RSS during the ${label} | ${b === undefined ? '—' : num(b / MiB)} MiB | ${d === undefined ? '—' : num(d / MiB)} MiB |`);
    }
    if (scp('sdk up')) L.push(`| s3rver CPU per GiB during the SDK multipart upload | ${cell(scp('sdk up'), 2)} s | |`);
    if (scp('sdk down')) L.push(`| s3rver CPU per GiB during the SDK GetObject | ${cell(scp('sdk down'), 2)} s | |`);
    L.push('');
    L.push('How:', '');
    L.push(
      `- s3rver 3.7.1 (test/helpers/s3rver.ts: a child process, the fs store fixed to answer a PUT only once its bytes are written) on 127.0.0.1, one bucket, ` +
        'with bench/lib/s3-extended.cjs loaded into it: ListMultipartUploads and ListParts, which s3rver lacks and Distribution needs, answered from the ' +
        'CreateMultipartUpload, UploadPart, Complete and Abort requests it saw pass (s3rver\'s own outermost Koa middleware: no extra hop, bodies not touched). ' +
        'Every client (Berth, Distribution, the SDK) talks to that same server.',
      '- Berth: two instances built from dist/ with `BERTH_STORAGE=s3`, path-style, `BERTH_S3_CREATE_BUCKET=true`, embedded PostgreSQL each: one streaming, ' +
        'one with `BERTH_S3_REDIRECT=true` (`BERTH_S3_PREFIX=redirect/`).',
      `- Distribution: Debian's docker-registry 2.8 (\`/usr/bin/docker-registry\`), two instances with its \`s3\` driver: \`regionendpoint: ${'http://127.0.0.1:<port>'}\` ` +
        `(2.8 then sends path-style requests), \`region: us-east-1\`, \`secure: false\`, \`v4auth: true\`, \`chunksize: ${o.chunkBytes}\` (${o.chunkBytes / MiB} MiB, like the PATCHes, Berth's and the SDK's parts; its default is 10 MiB), ` +
        `\`multipartcopythresholdsize: ${DIST_COPY_THRESHOLD}\` (its maximum, 5 GiB: above the threshold, default 32 MiB, it moves an upload to its blob path with UploadPartCopy, which s3rver answers 501; below it uses CopyObject), ` +
        '`rootdirectory: /distribution` (`/distribution-redirect`), the in-memory blob descriptor cache, `redirect: disable: true` on one instance and false on the other; ' +
        '`AWS_CA_BUNDLE` is removed from its environment (its Go AWS SDK refuses to start with it set).',
      `- SDK direct: \`createS3Client\` (src/storage/s3/s3-client.ts, the client Berth uses) — CreateMultipartUpload, UploadPart of ${o.chunkBytes / MiB} MiB parts one after another from memory, CompleteMultipartUpload; GetObject read to the end. ` +
        'Berth also sends its parts one at a time (it receives the next part while one is uploading), so this is the like-for-like baseline.',
      `- Registry figures with the bench client (node:http, keep-alive, bodies from memory, responses counted and dropped); the push time includes the final PUT (the registry's commit to the content address). ` +
        'The redirect pull is the GET to the registry (307) plus the GET of the presigned URL from s3rver.',
      `- Manifest GET/HEAD and small image pushes: the functions of the fs section (bench/figures.ts), ${o.runs} runs each after a warm-up, ` +
        `${figSettings.loadSeconds}-s load runs and ${figSettings.images} images per run (the fs section's ${o.settings.loadSeconds} s and ${o.settings.images}, capped at ${S3_LOAD_SECONDS} s and ${S3_IMAGES} here to keep the section short). ` +
        'Berth keeps manifests in PostgreSQL; Distribution reads the tag link and the manifest from S3.',
      `- Memory: the ${bigMiB} MiB blob is the ${mb} MiB buffer sent ${reps} times, to Berth and then to Distribution within each phase, right after start-up (before the throughput rounds and the manifest and image figures, whose peaks are reported apart); each registry process's kernel peak (VmHWM) is reset at the start of each phase through /proc/<pid>/clear_refs, and VmRSS is sampled every 100 ms besides.`,
    );
    if (!bigOk) L.push('- The 1 GiB push failed; see the notes.');
    L.push('');
    if (notes.length > 0) {
      L.push('Notes:', '');
      for (const n of notes) L.push(`- ${n}`);
      L.push('');
    }
    return { report: L.join('\n'), notes };
  } catch (e) {
    for (const b of procs) {
      const out = b.output().trim();
      if (out) o.log(`${b.name} (S3) output, last 3000 chars:\n${out.slice(-3000)}`);
    }
    throw e;
  } finally {
    for (const c of clients) c.close();
    await Promise.all(procs.map((b) => b.stop().catch((e: unknown) => o.log(`stopping ${b.name}: ${(e as Error).message}`))));
    await s3.stop().catch((e: unknown) => o.log(`stopping s3rver: ${(e as Error).message}`));
  }
}

