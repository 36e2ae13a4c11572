// A focused run of some figures, for profiling and before/after comparisons while working on one
// figure (not the results file: `npm run bench` writes that). Starts Berth (built dist/) and
// Distribution like run.ts, runs the figures named, prints median (min–max) and the ratio.
//
//   node --import tsx bench/focus.ts [blobs] [manifest] [images] [tags] [clients] [--runs N] [--seconds S]
//        [--cpu-prof DIR] [--berth-only] [--build]
//
//   --cpu-prof DIR  run Berth's node with --cpu-prof into DIR (the profile is written when it stops)
//   --build         npm run build first (default: the dist/ that is there)
//   --berth-root D  run the Berth built in D (e.g. an earlier commit from `git archive`, for before/after)
import { randomFillSync } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clientFigures } from './clients.js';
import { blobFigures, manifestLoad, smallImages, tagList, type Ctx, type Fig, type PerRegistry, type Settings } from './figures.js';
import { Client, makeImage } from './lib/client.js';
import { MemSampler, startBerth, startDistribution, type RegistryName, type RegistryProc } from './lib/procs.js';
import { MiB, num, type Spread } from './lib/stats.js';
import { runOk } from './lib/system.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FIGURES = ['blobs', 'manifest', 'images', 'tags', 'clients'] as const;
type FigureName = (typeof FIGURES)[number];

function parse(argv: string[]) {
  const o = { figures: [] as FigureName[], runs: 3, seconds: 5, cpuProf: '', berthOnly: false, build: false, berthRoot: REPO_ROOT };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--runs') o.runs = Math.max(1, Number.parseInt(val(), 10));
    else if (a === '--seconds') o.seconds = Math.max(1, Number.parseInt(val(), 10));
    else if (a === '--cpu-prof') o.cpuProf = resolve(val());
    else if (a === '--berth-only') o.berthOnly = true;
    else if (a === '--build') o.build = true;
    else if (a === '--berth-root') o.berthRoot = resolve(val());
    else if ((FIGURES as readonly string[]).includes(a)) o.figures.push(a as FigureName);
    else throw new Error(`unknown argument ${a} (see the head of bench/focus.ts)`);
  }
  if (o.figures.length === 0) o.figures = [...FIGURES];
  return o;
}

function line(label: string, v: PerRegistry<Spread>, better: 'higher' | 'lower', digits?: number): string {
  const b = v.Berth;
  const d = v.Distribution;
  const c = (s: Spread | undefined) => (s ? `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})` : '—');
  const ratio = b && d ? `${num(b.median / d.median, 2)}× (${better} is better)` : '';
  return `${label.padEnd(34)} Berth ${c(b).padEnd(26)} Distribution ${c(d).padEnd(26)} ${ratio}`;
}

function figLines(label: string, unit: string, f: Fig, better: 'higher' | 'lower', cpuUnit: string): string[] {
  return [line(`${label} [${unit}]`, f.value, better), line(`  … registry CPU [${cpuUnit}]`, f.cpu, 'lower', 2)];
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const log = (s: string) => process.stderr.write(`[focus] ${s}\n`);
  if (o.build) await runOk('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, timeoutMs: 300_000 });
  const settings: Settings = {
    runs: o.runs,
    loadSeconds: o.seconds,
    loadConnections: 32,
    blobBytes: 256 * MiB,
    chunkBytes: 8 * MiB,
    images: 200,
    imageConcurrency: 8,
    imageLayerSizes: [16 * 1024, 64 * 1024],
    tags: 5000,
    tagConcurrency: 8,
    tagPage: 100,
    bigBlobBytes: 1024 * MiB,
  };
  const tmp = mkdtempSync(join(tmpdir(), 'berth-focus-'));
  chmodSync(tmp, 0o755);
  const regs: RegistryProc[] = [];
  const clients = new Map<RegistryName, Client>();
  try {
    mkdirSync(join(tmp, 'berth'));
    mkdirSync(join(tmp, 'distribution'));
    if (o.cpuProf) mkdirSync(o.cpuProf, { recursive: true });
    regs.push(await startBerth({ repoRoot: o.berthRoot, dataDir: join(tmp, 'berth'), nodeArgs: o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProf}`] : [] }));
    if (!o.berthOnly) regs.push(await startDistribution({ dataDir: join(tmp, 'distribution') }));
    for (const r of regs) clients.set(r.name, new Client(r.url));
    const sampler = new MemSampler(regs, 100);
    const data = o.figures.includes('blobs') ? randomFillSync(Buffer.allocUnsafe(settings.blobBytes)) : Buffer.alloc(16);
    const ctx: Ctx = { settings, regs, clients, sampler, data, log, notes: [] };
    const out: string[] = [];
    for (const f of o.figures) {
      if (f === 'blobs') {
        const b = await blobFigures(ctx);
        out.push(...figLines('1. push monolithic', 'MiB/s', b.mono, 'higher', 'CPU s/GiB'));
        out.push(...figLines('2. push chunked', 'MiB/s', b.chunked, 'higher', 'CPU s/GiB'));
        out.push(...figLines('3. pull', 'MiB/s', b.pull, 'higher', 'CPU s/GiB'));
      } else if (f === 'manifest') {
        const l = await manifestLoad(ctx, makeImage([4096, 8192], 'manifest-load'));
        out.push(line('4. manifest GET [req/s]', l.get.rps, 'higher'), line('   GET p99 [ms]', l.get.p99, 'lower', 2), line('   CPU per GET [µs]', l.get.cpu, 'lower'));
        out.push(line('4. manifest HEAD [req/s]', l.head.rps, 'higher'), line('   HEAD p99 [ms]', l.head.p99, 'lower', 2), line('   CPU per HEAD [µs]', l.head.cpu, 'lower'));
      } else if (f === 'images') {
        out.push(...figLines('5. small images', 'images/s', await smallImages(ctx), 'higher', 'CPU ms/image'));
      } else if (f === 'clients') {
        for (const c of clientFigures) {
          const rows = await c.run({ regs, clients: clients as Map<string, Client>, runs: o.runs, tmp, log, notes: ctx.notes });
          for (const r of rows) out.push(line(`${r.title} [${r.unit}]`, r.values, r.better, 1));
        }
      } else {
        const t = await tagList(ctx);
        out.push(...figLines('6. tag list whole', 'ms', t.whole, 'lower', 'CPU ms'));
        out.push(...figLines('6. tag list paged', 'ms', t.paged, 'lower', 'CPU ms'));
      }
    }
    process.stdout.write(`${out.join('\n')}\n`);
    const hold = Number(process.env.BENCH_FOCUS_HOLD ?? 0);
    if (hold > 0) {
      log(`holding ${hold} s: Berth pid ${regs[0]!.pid}, data in ${tmp}`);
      await new Promise((r) => setTimeout(r, hold * 1000));
    }
  } finally {
    for (const c of clients.values()) c.close();
    await Promise.all(regs.map((r) => r.stop()));
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`[focus] failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
