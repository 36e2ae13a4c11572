// Several Berth builds (and optionally Distribution) measured in the same run, interleaved run by
// run, for before/after checks on a shared machine where two back-to-back focus.ts runs see
// different load. Prints, per registry, median (min–max) of the rate and of the CPU it took, with
// Berth's node split into user and system time and its PostgreSQL apart.
//
//   node --import tsx bench/side-by-side.ts --roots /tmp/before,. --what images [--runs 7] [--dist] [--s3]
//
//   --roots   built Berth trees (dist/ and node_modules/ in each; default: this one)
//   --what    mono (POST + PUT of 256 MiB), chunked (8 MiB PATCHes; also the closing PUT's time),
//             images (200 small images, c=8, as figure 5), dockerlike (5 × 40 MiB layers at once,
//             each one PATCH with chunked transfer encoding in 32 KiB writes, as dockerd sends),
//             pull (GET of a 256 MiB blob pushed once before the runs, read to the end)
//   --s3      every Berth with BERTH_STORAGE=s3 on one s3rver (test/helpers/s3rver.ts), each under its own prefix
//   --cpu-prof DIR  each Berth under --cpu-prof, into DIR/<index>
import { randomFillSync } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startS3rver, type TestS3 } from '../test/helpers/s3rver.js';
import { Client, makeImage, pool, sha256, withQuery } from './lib/client.js';
import { processCpuSeconds, startBerth, startDistribution, type RegistryProc } from './lib/procs.js';
import { MiB, spread, type Spread } from './lib/stats.js';

const WHAT = ['mono', 'chunked', 'images', 'dockerlike', 'pull'] as const;
type What = (typeof WHAT)[number];

function parse(argv: string[]) {
  const o = { roots: [resolve('.')], what: 'chunked' as What, runs: 5, dist: false, s3: false, cpuProf: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = () => argv[++i] ?? '';
    if (a === '--roots') o.roots = val().split(',').map((r) => resolve(r));
    else if (a === '--what' && (WHAT as readonly string[]).includes(argv[i + 1] ?? '')) o.what = val() as What;
    else if (a === '--runs') o.runs = Math.max(1, Number.parseInt(val(), 10));
    else if (a === '--dist') o.dist = true;
    else if (a === '--s3') o.s3 = true;
    else if (a === '--cpu-prof') o.cpuProf = resolve(val());
    else throw new Error(`unknown or bad argument ${a} (see the head of bench/side-by-side.ts)`);
  }
  return o;
}

/** User and system seconds of one process's own threads (from /proc/<pid>/stat). */
function userSys(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100 };
}

function meter(r: RegistryProc): () => { user: number; sys: number; helpers: number } {
  const before = r.helperPids();
  const own0 = userSys(r.pid);
  const helpers0 = before.reduce((s, p) => s + processCpuSeconds(p), 0);
  return () => {
    const helpers = [...new Set([...before, ...r.helperPids()])];
    const own1 = userSys(r.pid);
    return { user: own1.user - own0.user, sys: own1.sys - own0.sys, helpers: helpers.reduce((s, p) => s + processCpuSeconds(p), 0) - helpers0 };
  };
}

interface Entry {
  label: string;
  reg: RegistryProc;
  client: Client;
  rate: number[];
  cpu: number[];
  user: number[];
  sys: number[];
  pg: number[];
  closingPutMs: number[];
}

/** One chunked push; returns the closing PUT's time in ms. */
async function pushChunked(c: Client, data: Buffer, digest: string): Promise<number> {
  let loc = await c.startUpload('side/chunked');
  for (let off = 0; off < data.length; off += 8 * MiB) {
    const part = data.subarray(off, Math.min(data.length, off + 8 * MiB));
    const headers = { 'Content-Type': 'application/octet-stream', 'Content-Range': `${off}-${off + part.length - 1}` };
    loc = (await c.expect(202, 'PATCH', c.url(loc).href, { body: part, headers })).headers.location ?? loc;
  }
  const t = process.hrtime.bigint();
  await c.expect(201, 'PUT', withQuery(c.url(loc), { digest }));
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** A layer as dockerd pushes it: POST, one PATCH without a length (chunked encoding), empty PUT. */
async function pushStreamed(c: Client, layer: Buffer, digest: string): Promise<void> {
  const u = c.url(await c.startUpload('side/docker'));
  const res = await new Promise<http.IncomingMessage>((done, fail) => {
    const req = http.request({ agent: c.agent, host: u.hostname, port: u.port, method: 'PATCH', path: u.pathname + u.search }, done);
    req.on('error', fail);
    void (async () => {
      for (let off = 0; off < layer.length; off += 32 * 1024) {
        if (!req.write(layer.subarray(off, off + 32 * 1024))) await new Promise((r) => req.once('drain', r));
      }
      req.end();
    })();
  });
  for await (const _ of res) void _;
  if (res.statusCode !== 202 || !res.headers.location) throw new Error(`PATCH answered ${res.statusCode}`);
  await c.expect(201, 'PUT', withQuery(c.url(res.headers.location), { digest }));
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const tmp = mkdtempSync(join(tmpdir(), 'berth-side-'));
  chmodSync(tmp, 0o755);
  const entries: Entry[] = [];
  let s3: TestS3 | undefined;
  const add = (label: string, reg: RegistryProc) =>
    entries.push({ label, reg, client: new Client(reg.url), rate: [], cpu: [], user: [], sys: [], pg: [], closingPutMs: [] });
  try {
    if (o.s3) s3 = await startS3rver();
    for (const [i, root] of o.roots.entries()) {
      const dataDir = join(tmp, `berth-${i}`);
      mkdirSync(dataDir);
      const nodeArgs = o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(o.cpuProf, String(i))}`] : [];
      const extraEnv: Record<string, string> = s3
        ? {
            BERTH_STORAGE: 's3',
            BERTH_S3_ENDPOINT: s3.endpoint,
            BERTH_S3_BUCKET: s3.bucket,
            BERTH_S3_FORCE_PATH_STYLE: 'true',
            BERTH_S3_CREATE_BUCKET: 'true',
            BERTH_S3_PREFIX: `berth-${i}/`,
            AWS_ACCESS_KEY_ID: 'S3RVER',
            AWS_SECRET_ACCESS_KEY: 'S3RVER',
            AWS_REGION: 'us-east-1',
          }
        : {};
      add(`Berth ${i} (${root})`, await startBerth({ repoRoot: root, dataDir, nodeArgs, extraEnv }));
    }
    if (o.dist) {
      mkdirSync(join(tmp, 'distribution'));
      add('Distribution', await startDistribution({ dataDir: join(tmp, 'distribution') }));
    }
    const data = randomFillSync(Buffer.allocUnsafe(256 * MiB));
    const pulled = sha256(data);
    if (o.what === 'pull') for (const e of entries) await e.client.pushMonolithic('side/pull', [data], pulled);
    // Per GiB for blob figures, per image (ms) for images.
    const scale = o.what === 'images' ? 1000 / 200 : o.what === 'dockerlike' ? 1024 / 200 : 4;
    for (let run = -1; run < o.runs; run++) {
      for (const e of run % 2 === 0 ? entries : [...entries].reverse()) {
        let op: () => Promise<unknown>;
        let amount: number;
        if (o.what === 'images') {
          const images = Array.from({ length: 200 }, (_, i) => makeImage([16 * 1024, 64 * 1024], `side-${run}-${i}-${e.label}`));
          op = () => pool(images, 8, (img, i) => e.client.pushImage(`side/images-${run + 1}`, `v${i}`, img));
          amount = 200;
        } else if (o.what === 'dockerlike') {
          const layers = Array.from({ length: 5 }, (_, i) => data.subarray(i * 40 * MiB, (i + 1) * 40 * MiB)).map((b) => {
            randomFillSync(b, 0, 16);
            return { b, digest: sha256(b) };
          });
          op = () => Promise.all(layers.map((l) => pushStreamed(e.client, l.b, l.digest)));
          amount = 200;
        } else if (o.what === 'pull') {
          op = async () => {
            const bytes = await e.client.pull('side/pull', pulled);
            if (bytes !== data.length) throw new Error(`pulled ${bytes} bytes of ${data.length}`);
          };
          amount = 256;
        } else {
          randomFillSync(data, 0, 16);
          const digest = sha256(data);
          op = o.what === 'mono' ? () => e.client.pushMonolithic('side/mono', [data], digest) : () => pushChunked(e.client, data, digest);
          amount = 256;
        }
        const cpu = meter(e.reg);
        const t = process.hrtime.bigint();
        const result = await op();
        const secs = Number(process.hrtime.bigint() - t) / 1e9;
        const used = cpu();
        if (run < 0) continue;
        e.rate.push(amount / secs);
        e.cpu.push((used.user + used.sys + used.helpers) * scale);
        e.user.push(used.user * scale);
        e.sys.push(used.sys * scale);
        e.pg.push(used.helpers * scale);
        if (typeof result === 'number') e.closingPutMs.push(result);
      }
    }
    const cell = (s: Spread, d = 2) => `${s.median.toFixed(d)} (${s.min.toFixed(d)}–${s.max.toFixed(d)})`;
    const [rateUnit, cpuUnit] = o.what === 'images' ? ['images/s', 'CPU ms/image'] : ['MiB/s', 'CPU s/GiB'];
    for (const e of entries) {
      process.stdout.write(`${e.label}\n  ${cell(spread(e.rate), 1)} ${rateUnit}; ${cell(spread(e.cpu))} ${cpuUnit}: `);
      process.stdout.write(`node user ${cell(spread(e.user))}, sys ${cell(spread(e.sys))}, PostgreSQL ${cell(spread(e.pg))}\n`);
      if (e.closingPutMs.length > 0) process.stdout.write(`  closing PUT ${cell(spread(e.closingPutMs), 0)} ms\n`);
    }
  } finally {
    for (const e of entries) e.client.close();
    await Promise.all(entries.map((e) => e.reg.stop()));
    await s3?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`[side-by-side] failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
