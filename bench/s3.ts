// The S3 section of the bench (`npm run bench -- --s3`, or `--s3-only`): Berth with BERTH_STORAGE=s3
// against s3rver (the S3 test server of the test suite, test/helpers/s3rver.ts, in a child process
// on 127.0.0.1), next to the AWS SDK talking to the same s3rver directly, in the same run:
//
//   - SDK direct: CreateMultipartUpload + UploadPart (8 MiB parts, one at a time) + Complete of the
//     blob from memory, and GetObject of it, read to the end → MiB/s;
//   - Berth: monolithic push (POST + PUT with the body), chunked push (8 MiB PATCHes), one-PATCH push
//     (POST, one PATCH of everything, empty PUT: what docker does) and pull (GET) → MiB/s; pull with
//     BERTH_S3_REDIRECT=true (a second Berth: GET → 307 → GET of the presigned URL from s3rver);
//   - ratio Berth / SDK (issue 3 target ≥ 0.70);
//   - peak RSS of Berth's node process (kernel VmHWM, reset per phase, plus VmRSS sampled every
//     100 ms) while pushing a 1 GiB blob in 8 MiB PATCHes and in one PATCH (limit 150 MiB).
//
// Distribution's S3 driver is not measured (see the notes the report writes).
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { randomBytes, randomFillSync } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startS3rver, type TestS3 } from '../test/helpers/s3rver.js';
import { Client, sha256, withQuery } from './lib/client.js';
import { readFileSync } from 'node:fs';
import { cpuMeter, descendants, MemSampler, processCpuSeconds, startBerth, type RegistryProc } from './lib/procs.js';
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
  log: (s: string) => void;
  command: string;
}

const TARGET_RATIO = 0.7;
const RSS_LIMIT_MIB = 150;

interface S3Row {
  figure: string;
  berth?: Spread;
  sdk?: Spread;
  /** ratio target text */
  target: string;
  unit: string;
  /** Berth CPU seconds per GiB (node + its PostgreSQL) */
  cpu?: Spread;
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

export async function runS3(o: S3Options): Promise<{ report: string; notes: string[] }> {
  const t00 = performance.now();
  const notes: string[] = [];
  const loadBefore = loadavg();
  const busyBefore = await cpuBusyOver(2000);
  const machine = await machineInfo();
  const startedAt = new Date().toISOString();
  o.log(`S3: load ${loadBefore}, ${(busyBefore * 100).toFixed(0)} % busy; starting s3rver`);

  const s3 = await startS3rver();
  const berths: RegistryProc[] = [];
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
    const d1 = join(o.tmp, 's3-berth');
    const d2 = join(o.tmp, 's3-berth-redirect');
    mkdirSync(d1);
    mkdirSync(d2);
    o.log(`S3: s3rver at ${s3.endpoint}, bucket ${s3.bucket}; starting Berth (stream) and Berth (redirect)`);
    const started = await Promise.allSettled([
      startBerth({ repoRoot: o.berthRoot, dataDir: d1, extraEnv: s3env(false) }),
      startBerth({ repoRoot: o.berthRoot, dataDir: d2, extraEnv: s3env(true) }),
    ]);
    for (const r of started) if (r.status === 'fulfilled') berths.push(r.value);
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    const [berth, berthRedirect] = berths as [RegistryProc, RegistryProc];
    const bc = new Client(berth.url);
    const rc = new Client(berthRedirect.url);
    const s3c = new Client(s3.endpoint);
    clients.push(bc, rc, s3c);
    o.log(`S3: Berth pid ${berth.pid} at ${berth.url}; Berth (redirect) pid ${berthRedirect.pid} at ${berthRedirect.url}`);

    const data = Buffer.allocUnsafe(o.blobBytes);
    randomFillSync(data);
    const mb = o.blobBytes / MiB;
    const v: Record<string, number[]> = {};
    const cpu: Record<string, number[]> = {};
    const scpu: Record<string, number[]> = {};
    const gib = o.blobBytes / (1024 * MiB);
    const put = (k: string, x: number, c?: number, sc?: number) => {
      (v[k] ??= []).push(x);
      if (c !== undefined) (cpu[k] ??= []).push(c);
      if (sc !== undefined && Number.isFinite(sc)) (scpu[k] ??= []).push(sc);
    };

    // The redirecting instance gets its blob once (not measured).
    const redirectDigest = freshen(data);
    await rc.pushMonolithic('bench/s3-redirect', [data], redirectDigest);

    const total = o.runs + 1;
    for (let i = 0; i < total; i++) {
      const counted = i > 0;
      o.log(`S3: round ${i + 1}/${total}${counted ? '' : ' (warm-up)'}`);
      const rec = (k: string, x: number, c?: number, sc?: number) => {
        if (counted) put(k, x, c, sc);
      };
      const measureBerth = async (k: string, fn: () => Promise<void>) => {
        const meter = cpuMeter(berth);
        const s0 = s3cpu();
        const t0 = performance.now();
        await fn();
        const t = secs(t0);
        rec(k, mb / t, meter() / gib, (s3cpu() - s0) / gib);
      };

      // pushes: SDK first on even rounds, last on odd ones
      const key = `sdk-direct/${i}`;
      const sdkUp = async () => {
        freshen(data);
        const s0 = s3cpu();
        const t0 = performance.now();
        await sdkUpload(s3, key, data, o.chunkBytes);
        rec('sdk up', mb / secs(t0), undefined, (s3cpu() - s0) / gib);
      };
      let monoDigest = '';
      const berthPushes = async () => {
        monoDigest = freshen(data);
        await measureBerth('mono', () => bc.pushMonolithic('bench/s3-mono', [data], monoDigest));
        const cd = freshen(data);
        await measureBerth('chunked', () => pushChunkedParts(bc, 'bench/s3-chunked', [data], cd, o.chunkBytes));
        const od = freshen(data);
        await measureBerth('one patch', () => pushOnePatch(bc, 'bench/s3-onepatch', [data], od));
      };
      if (i % 2 === 0) {
        await sdkUp();
        await berthPushes();
      } else {
        await berthPushes();
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
      const berthPulls = async () => {
        const meter = cpuMeter(berth);
        let s0 = s3cpu();
        let t0 = performance.now();
        let n = await bc.pull('bench/s3-mono', monoDigest);
        if (n !== o.blobBytes) throw new Error(`Berth pull: ${n} bytes, expected ${o.blobBytes}`);
        rec('pull', mb / secs(t0), meter() / gib, (s3cpu() - s0) / gib);
        s0 = s3cpu();
        t0 = performance.now();
        n = await pullRedirect(rc, s3c, 'bench/s3-redirect', redirectDigest);
        if (n !== o.blobBytes) throw new Error(`Berth redirect pull: ${n} bytes, expected ${o.blobBytes}`);
        rec('pull redirect', mb / secs(t0), undefined, (s3cpu() - s0) / gib);
      };
      if (i % 2 === 0) {
        await sdkDown();
        await berthPulls();
      } else {
        await berthPulls();
        await sdkDown();
      }
      await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: key }));
    }

    // memory: 1 GiB pushes (the blob as the 256 MiB buffer repeated), Berth's node process alone
    const reps = Math.max(1, Math.round(o.bigBlobBytes / o.blobBytes));
    const bigParts = Array.from({ length: reps }, () => data);
    const bigMiB = (reps * o.blobBytes) / MiB;
    const sampler = new MemSampler([berth], 100);
    sampler.start();
    const big: Record<string, number> = {};
    let bigOk = true;
    try {
      for (const [phase, fn] of [
        ['big chunked', (d: string) => pushChunkedParts(bc, 'bench/s3-big-chunked', bigParts, d, o.chunkBytes)],
        ['big one patch', (d: string) => pushOnePatch(bc, 'bench/s3-big-onepatch', bigParts, d)],
      ] as const) {
        const d = freshen(data, bigParts);
        o.log(`S3: ${phase}: ${bigMiB} MiB`);
        sampler.phase(phase);
        const t0 = performance.now();
        await fn(d);
        big[phase] = bigMiB / secs(t0);
      }
    } catch (e) {
      bigOk = false;
      notes.push(`the ${bigMiB} MiB push failed: ${(e as Error).message.slice(0, 300)}`);
    } finally {
      sampler.phase('after');
      sampler.stop();
    }
    const peak = (p: string) => sampler.get(p, 'Berth')?.mainPeak;
    const startupPeak = sampler.get('start-up', 'Berth')?.mainPeak;

    const sp = (k: string) => (v[k] ? spread(v[k]!) : undefined);
    const cp = (k: string) => (cpu[k] ? spread(cpu[k]!) : undefined);
    const scp = (k: string) => (scpu[k] ? spread(scpu[k]!) : undefined);
    const one = (x: number | undefined): Spread | undefined => (x === undefined ? undefined : spread([x]));
    const target = `≥ ${TARGET_RATIO.toFixed(2)}`;
    const rows: S3Row[] = [
      { figure: `push ${mb} MiB, monolithic (POST + PUT with body) — vs SDK multipart upload`, berth: sp('mono'), sdk: sp('sdk up'), target, unit: 'MiB/s', cpu: cp('mono') },
      { figure: `push ${mb} MiB, chunked (${o.chunkBytes / MiB} MiB PATCHes) — vs SDK multipart upload`, berth: sp('chunked'), sdk: sp('sdk up'), target, unit: 'MiB/s', cpu: cp('chunked') },
      { figure: `push ${mb} MiB, one PATCH + empty PUT (docker) — vs SDK multipart upload`, berth: sp('one patch'), sdk: sp('sdk up'), target, unit: 'MiB/s', cpu: cp('one patch') },
      { figure: `pull ${mb} MiB, streamed through Berth — vs SDK GetObject`, berth: sp('pull'), sdk: sp('sdk down'), target, unit: 'MiB/s', cpu: cp('pull') },
      { figure: `pull ${mb} MiB, BERTH_S3_REDIRECT=true (307 + presigned GET) — vs SDK GetObject`, berth: sp('pull redirect'), sdk: sp('sdk down'), target, unit: 'MiB/s' },
    ];
    const lim = RSS_LIMIT_MIB * MiB;
    const memRows: Array<{ figure: string; peak?: number; rate?: number }> = [
      { figure: `peak RSS, pushing ${bigMiB} MiB in ${o.chunkBytes / MiB} MiB PATCHes`, peak: peak('big chunked'), rate: big['big chunked'] },
      { figure: `peak RSS, pushing ${bigMiB} MiB in one PATCH`, peak: peak('big one patch'), rate: big['big one patch'] },
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
    L.push(`# Berth on S3 (s3rver) vs the AWS SDK direct — ${startedAt.slice(0, 10)}`, '');
    L.push(`\`${o.command}\` · started ${startedAt} · ${((performance.now() - t00) / 1000).toFixed(0)} s · Berth: ${o.berthDescribed}`, '');
    L.push(
      `Machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memTotalGiB.toFixed(1)} GiB, node ${machine.node}, ${machine.kernel}. ` +
        `Load average before: ${loadBefore} (${(busyBefore * 100).toFixed(0)} % busy over 2 s); after: ${loadAfter}. ` +
        'Everything (client, Berth, its embedded PostgreSQL, s3rver) ran on this machine and talked over 127.0.0.1; other engineers were using the machine too.',
      '',
    );
    L.push(`Median (min–max) of ${o.runs} counted rounds after one warm-up round; each round runs every figure once, alternating whether the SDK or Berth goes first.`, '');
    L.push('| figure | Berth | SDK direct | ratio Berth/SDK | target |', '|---|---|---|---|---|');
    for (const r of rows) L.push(`| ${r.figure} (${r.unit}) | ${cell(r.berth)} | ${cell(r.sdk)} | ${ratioCell(r)} | ${r.target} |`);
    for (const m of memRows) {
      const ok = m.peak !== undefined && m.peak < lim;
      L.push(`| ${m.figure} (MiB; Berth node process, VmHWM) | ${m.peak === undefined ? '—' : num(m.peak / MiB)} ${m.peak === undefined ? '' : ok ? '✓' : '✗'} | — | — | < ${RSS_LIMIT_MIB} MiB |`);
    }
    L.push('');
    L.push('Further figures:', '');
    L.push('| figure | Berth |', '|---|---|');
    for (const r of rows) if (r.cpu) L.push(`| Berth CPU (node + PostgreSQL) per GiB, ${r.figure.split(' — ')[0]} | ${cell(r.cpu, 2)} s |`);
    const sKeys: Array<[string, string]> = [
      ['sdk up', 'SDK multipart upload'],
      ['mono', 'Berth monolithic push'],
      ['chunked', 'Berth chunked push'],
      ['one patch', 'Berth one-PATCH push'],
      ['sdk down', 'SDK GetObject'],
      ['pull', 'Berth pull (streamed)'],
      ['pull redirect', 'Berth pull (redirect)'],
    ];
    for (const [k, label] of sKeys) if (scp(k)) L.push(`| s3rver CPU per GiB during ${label} | ${cell(scp(k), 2)} s |`);
    for (const m of memRows) L.push(`| throughput of the ${m.figure.replace('peak RSS, ', '')} (1 run) | ${m.rate === undefined ? '—' : num(m.rate)} MiB/s |`);
    L.push(`| Berth node RSS after start-up and the throughput rounds (before the ${bigMiB} MiB pushes) | ${startupPeak === undefined ? '—' : num(startupPeak / MiB)} MiB |`);
    L.push('');
    L.push('How:', '');
    L.push(
      `- s3rver 3.7.1 (test/helpers/s3rver.ts: a child process, the fs store fixed to answer a PUT only once its bytes are written) on 127.0.0.1, one bucket; ` +
        'two Berth instances built from dist/ with `BERTH_STORAGE=s3`, path-style, `BERTH_S3_CREATE_BUCKET=true`, embedded PostgreSQL each: one streaming, ' +
        'one with `BERTH_S3_REDIRECT=true` (`BERTH_S3_PREFIX=redirect/`).',
      `- SDK direct: \`createS3Client\` (src/storage/s3-client.ts, the client Berth uses) — CreateMultipartUpload, UploadPart of ${o.chunkBytes / MiB} MiB parts one after another from memory, CompleteMultipartUpload; GetObject read to the end. ` +
        'Berth also sends its parts one at a time (it receives the next part while one is uploading), so this is the like-for-like baseline.',
      `- Berth figures with the bench client (node:http, keep-alive, bodies from memory, responses counted and dropped); the push time includes the final PUT (Berth's commit to the content address). ` +
        'The redirect pull is the GET to Berth (307) plus the GET of the presigned URL from s3rver.',
      `- Memory: the ${bigMiB} MiB blob is the ${mb} MiB buffer sent ${reps} times; Berth's node process's kernel peak (VmHWM) is reset at the start of each push through /proc/<pid>/clear_refs, and VmRSS is sampled every 100 ms besides.`,
      "- Distribution is not in this section: Debian's docker-registry 2.8 s3 driver finds an upload's multipart upload with ListMultipartUploads on every PATCH and PUT, which s3rver 3.7.1 answers 501 NotImplemented (bench/README.md), so there is no Distribution column.",
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
    for (const b of berths) {
      const out = b.output().trim();
      if (out) o.log(`Berth (S3) output, last 3000 chars:\n${out.slice(-3000)}`);
    }
    throw e;
  } finally {
    for (const c of clients) c.close();
    await Promise.all(berths.map((b) => b.stop().catch((e: unknown) => o.log(`stopping Berth: ${(e as Error).message}`))));
    await s3.stop().catch((e: unknown) => o.log(`stopping s3rver: ${(e as Error).message}`));
  }
}

