// `npm run bench`: Berth side by side with CNCF Distribution on this machine, same storage kind
// (filesystem), same workload, same client, one run; writes bench/results/<YYYY-MM-DD>.md.
//
//   npm run bench [-- --runs N --seconds S --quick --skip-build --no-clients --keep --out FILE]
//
//   --runs N       counted runs per throughput figure (default 5)
//   --seconds S    seconds per manifest load run (default 10)
//   --quick        a short smoke run (2 runs, 3 s, 64 MiB blobs, fewer images and tags); writes <date>-quick.md
//   --skip-build   use the dist/ that is there
//   --head         build and run the committed HEAD (a `git archive` copy in the temp dir) instead of the
//                  work tree; also the fallback when the work tree does not build (others' edits in progress)
//   --no-clients   skip the client figures of bench/clients.ts (skopeo copy, docker push/pull; on by default,
//                  installing skopeo and docker.io when missing)
//   --client-runs N counted runs of each client figure (default 3; --quick 1)
//   --keep         keep the temp dir
//   --wait-quiet S wait up to S seconds (default 180; 0: don't) for the machine to be < 20 % busy before starting
//   --out FILE     write the results here instead
//   --s3           also the S3 section (bench/s3.ts: Berth with BERTH_STORAGE=s3 on s3rver vs Distribution's
//                  s3 driver and the AWS SDK direct, same s3rver); writes bench/results/<date>-s3.md
//                  (--quick: <date>-s3-quick.md)
//   --s3-only      only the S3 section (no fs figures, no ceilings, no client figures)
//   --no-proxy     skip the pull-through cache section (bench/proxy.ts: Berth caching a Distribution upstream vs
//                  pulling from it directly; on by default, after the fs figures); writes <date>-proxy.md
//   --proxy-only   only the pull-through cache section
//   --link-mibps N, --link-rtt-ms N  the emulated link of the pull-through section's second table (the upstream
//                  as a remote registry: N MiB/s shared by all its response bodies, N ms before each request is
//                  forwarded; default 119 MiB/s, about 1 Gbit/s, and 20 ms)
//
// Only 127.0.0.1 is ever contacted; every process the bench starts is stopped by its PID.
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clientFigures } from './clients.js';
import { bigBlob, blobFigures, manifestLoad, smallImages, tagList, type Ctx, type LoadStats, type PerRegistry, type Settings } from './figures.js';
import { Client, makeImage } from './lib/client.js';
import { descendants, MemSampler, startBerth, startDistribution, type RegistryName, type RegistryProc } from './lib/procs.js';
import { cell, MiB, num, spread, type Spread } from './lib/stats.js';
import { cpuBusyOver, cpuTimes, ensureTools, loadavg, machineInfo, procJiffies, runOk } from './lib/system.js';
import { ceilings, type Ceilings } from './machine.js';
import { runProxy } from './proxy.js';
import { runS3 } from './s3.js';
import { renderReport, single, type CpuSpan, type MemoryPhaseRow, type Row } from './report.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(BENCH_DIR, '..');
/** Each section (fs, S3) must end within this; a full `--s3` run has twice as long. */
const SECTION_LIMIT_MS = 25 * 60_000;
const BIG_BLOB_LIMIT_MIB = 150;
/** below this share of all CPUs busy, the machine counts as quiet */
const QUIET = 0.2;

const t00 = performance.now();
function log(s: string): void {
  process.stderr.write(`[bench ${((performance.now() - t00) / 1000).toFixed(0).padStart(4)} s] ${s}\n`);
}

function checked(flag: string, n: number, ok: (n: number) => boolean): number {
  if (!ok(n)) throw new Error(`${flag}: ${n} is out of range (see the head of bench/run.ts)`);
  return n;
}

function parseArgs(argv: string[]) {
  const o = { proxy: true, proxyOnly: false, s3: false, s3Only: false, head: false, runs: 5, seconds: 10, quick: false, skipBuild: false, clients: true, clientRuns: 3, keep: false, out: '', waitQuiet: 180, linkMibps: 119, linkRttMs: 20 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--runs') o.runs = Math.max(1, Number.parseInt(val(), 10));
    else if (a === '--seconds') o.seconds = Math.max(1, Number.parseInt(val(), 10));
    else if (a === '--quick') o.quick = true;
    else if (a === '--skip-build') o.skipBuild = true;
    else if (a === '--head') o.head = true;
    else if (a === '--clients') o.clients = true;
    else if (a === '--no-clients') o.clients = false;
    else if (a === '--client-runs') o.clientRuns = Math.max(1, Number.parseInt(val(), 10));
    else if (a === '--keep') o.keep = true;
    else if (a === '--out') o.out = val();
    else if (a === '--s3') o.s3 = true;
    else if (a === '--s3-only') o.s3Only = o.s3 = true;
    else if (a === '--no-proxy') o.proxy = false;
    else if (a === '--proxy-only') o.proxyOnly = o.proxy = true;
    else if (a === '--wait-quiet') o.waitQuiet = Math.max(0, Number.parseInt(val(), 10));
    else if (a === '--link-mibps') o.linkMibps = checked(a, Number(val()), (n) => n > 0);
    else if (a === '--link-rtt-ms') o.linkRttMs = checked(a, Number(val()), (n) => n >= 0);
    else throw new Error(`unknown argument ${a} (see the head of bench/run.ts)`);
  }
  return o;
}

function settingsFor(o: ReturnType<typeof parseArgs>): Settings {
  const quick = o.quick;
  return {
    runs: quick ? 2 : o.runs,
    loadSeconds: quick ? 3 : o.seconds,
    loadConnections: 32,
    blobBytes: (quick ? 64 : 256) * MiB,
    chunkBytes: 8 * MiB,
    images: quick ? 40 : 200,
    imageConcurrency: 8,
    imageLayerSizes: [16 * 1024, 64 * 1024],
    tags: quick ? 500 : 5000,
    tagConcurrency: 8,
    tagPage: 100,
    bigBlobBytes: (quick ? 256 : 1024) * MiB,
  };
}

/** CPU used by the whole machine and by this process tree, to tell how much else was running. */
function ourJiffies(): number {
  return [process.pid, ...descendants(process.pid)].reduce((a, p) => a + procJiffies(p), 0);
}
function cpuSpan() {
  const a = cpuTimes();
  const ours = ourJiffies();
  const t0 = performance.now();
  return (figure: string): CpuSpan => {
    const b = cpuTimes();
    const total = b.total - a.total;
    const busy = b.busy - a.busy;
    const mine = ourJiffies() - ours;
    return {
      figure,
      seconds: (performance.now() - t0) / 1000,
      busy: total > 0 ? busy / total : 0,
      foreign: total > 0 ? Math.max(0, busy - mine) / total : 0,
    };
  };
}

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 * MiB }).trim();
}

/**
 * Builds Berth: the work tree (`npm run build`, runs dist/), or the committed HEAD extracted with
 * `git archive` into the temp dir (node_modules linked) when asked or when the work tree does not build.
 */
async function prepareBerth(args: { head: boolean; skipBuild: boolean }, tmp: string, notes: string[]): Promise<{ root: string; described: string }> {
  let head = 'unknown commit';
  try {
    head = git(['rev-parse', '--short', 'HEAD']);
  } catch {
    // not a git checkout
  }
  if (!args.head) {
    let dirty = '';
    try {
      dirty = git(['status', '--porcelain', '--', 'src', 'migrations']);
    } catch {
      // not a git checkout
    }
    const described = dirty ? `work tree at ${head} with uncommitted changes in src/ or migrations/` : `commit ${head}`;
    if (args.skipBuild) return { root: REPO_ROOT, described: `${described} (dist/ as found)` };
    log('building Berth from the work tree (npm run build)');
    try {
      await runOk('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, timeoutMs: 300_000 });
      return { root: REPO_ROOT, described };
    } catch (e) {
      const why = (e as Error).message.split('\n').slice(0, 3).join(' ');
      log(`the work tree does not build (${why}); using the committed HEAD instead`);
      notes.push(`the work tree did not build (${why.slice(0, 300)}), so the committed HEAD ${head} was built and measured`);
    }
  }
  const root = join(tmp, 'berth-src');
  mkdirSync(root);
  log(`building Berth from the committed HEAD ${head} (git archive into the temp dir)`);
  const tar = join(tmp, 'berth-src.tar');
  execFileSync('git', ['archive', '--format=tar', '-o', tar, 'HEAD'], { cwd: REPO_ROOT });
  await runOk('tar', ['-xf', tar, '-C', root]);
  rmSync(tar, { force: true });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
  await runOk('npm', ['run', 'build', '--silent'], { cwd: root, timeoutMs: 300_000 });
  return { root, described: `commit ${head}` };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const settings = settingsFor(args);
  const startedAt = new Date();
  const date = startedAt.toISOString().slice(0, 10);
  const out = args.out ? resolve(args.out) : join(BENCH_DIR, 'results', `${date}${args.quick ? '-quick' : ''}.md`);
  const notes: string[] = [];

  const hardLimitMs = SECTION_LIMIT_MS * (args.s3 && !args.s3Only ? 2 : 1);
  const watchdog = setTimeout(() => {
    log(`hard limit of ${hardLimitMs / 60_000} min reached: stopping`);
    void cleanup().finally(() => process.exit(3));
  }, hardLimitMs);
  watchdog.unref();

  const tools = [{ tool: 'docker-registry', pkg: 'docker-registry' }];
  if (args.clients && !args.s3Only && !args.proxyOnly) for (const f of clientFigures) tools.push(...f.tools);
  if (args.proxy) tools.push({ tool: 'htpasswd', pkg: 'apache2-utils' });
  await ensureTools(tools, log);

  const tmp = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  // Berth, as root, runs its embedded PostgreSQL as another user, which must be able to reach the data dir.
  chmodSync(tmp, 0o755);
  const regs: RegistryProc[] = [];
  const clients = new Map<RegistryName, Client>();
  let cleaned = false;
  async function cleanup(): Promise<void> {
    if (cleaned) return;
    cleaned = true;
    for (const c of clients.values()) c.close();
    await Promise.all(regs.map((r) => r.stop().catch((e: unknown) => log(`stopping ${r.name}: ${(e as Error).message}`))));
    if (!args.keep) rmSync(tmp, { recursive: true, force: true });
    else log(`kept ${tmp}`);
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`${sig}: stopping`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  try {
    const berth = await prepareBerth(args, tmp, notes);
    const s3Section = async (): Promise<void> => {
      const s3out = args.s3Only && args.out ? resolve(args.out) : join(BENCH_DIR, 'results', `${date}-s3${args.quick ? '-quick' : ''}.md`);
      log('S3 section (bench/s3.ts)');
      const r = await runS3({
        berthRoot: berth.root,
        berthDescribed: berth.described,
        tmp,
        runs: args.quick ? 2 : Math.max(3, Math.min(args.runs, 5)),
        blobBytes: settings.blobBytes,
        chunkBytes: settings.chunkBytes,
        bigBlobBytes: settings.bigBlobBytes,
        settings,
        log,
        command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
      });
      writeSection(s3out, r.report);
    };
    /** A section's own report file (with the build notes), also printed. */
    const writeSection = (file: string, report: string): void => {
      const text = notes.length > 0 ? `${report}\nBuild notes:\n\n${notes.map((n) => `- ${n}`).join('\n')}\n` : report;
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      log(`wrote ${relative(process.cwd(), file)}`);
      process.stdout.write(text);
    };
    const proxySection = async (): Promise<void> => {
      const proxyOut = args.proxyOnly && args.out ? resolve(args.out) : join(BENCH_DIR, 'results', `${date}-proxy${args.quick ? '-quick' : ''}.md`);
      log('pull-through cache section (bench/proxy.ts)');
      const r = await runProxy({
        berthRoot: berth.root,
        berthDescribed: berth.described,
        tmp,
        runs: args.quick ? 2 : args.runs,
        layers: 4,
        layerBytes: (args.quick ? 16 : 64) * MiB,
        link: { mibPerSecond: args.linkMibps, rttMs: args.linkRttMs },
        log,
        command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
      });
      writeSection(proxyOut, r.report);
    };
    if (args.proxyOnly) {
      await proxySection();
      return;
    }
    const machine = await machineInfo();
    let busyBefore = await cpuBusyOver(2000);
    if (busyBefore >= QUIET && args.waitQuiet > 0) {
      log(`the machine is ${(busyBefore * 100).toFixed(0)} % busy; waiting up to ${args.waitQuiet} s for it to be under ${QUIET * 100} %`);
      const until = Date.now() + args.waitQuiet * 1000;
      while (busyBefore >= QUIET && Date.now() < until) busyBefore = await cpuBusyOver(5000);
      if (busyBefore >= QUIET) notes.push(`waited ${args.waitQuiet} s for a quiet machine and did not get one`);
    }
    const loadBefore = loadavg();
    log(`machine: ${machine.cpus} CPUs, ${machine.memTotalGiB.toFixed(1)} GiB, node ${machine.node}; load ${loadBefore}; busy ${(busyBefore * 100).toFixed(0)} %`);
    if (busyBefore >= QUIET) notes.push(`the machine was ${(busyBefore * 100).toFixed(0)} % busy before the run started (other work on it); see the CPU table for each figure`);
    if (args.s3Only) {
      await s3Section();
      return;
    }

    const data = randomFillSync(Buffer.allocUnsafe(settings.blobBytes));
    const manifestImage = makeImage([4096, 8192], 'manifest-load');
    const cpu: CpuSpan[] = [];

    let span = cpuSpan();
    const ceil = await ceilings({ settings, benchDir: BENCH_DIR, tmp, data, manifest: manifestImage.manifest, log, notes });
    cpu.push(span('9 machine ceilings'));

    log('starting Berth (embedded PostgreSQL) and Distribution');
    const berthDir = join(tmp, 'berth');
    const distDir = join(tmp, 'distribution');
    mkdirSync(berthDir);
    mkdirSync(distDir);
    const started = await Promise.allSettled([startBerth({ repoRoot: berth.root, dataDir: berthDir }), startDistribution({ dataDir: distDir })]);
    for (const r of started) if (r.status === 'fulfilled') regs.push(r.value);
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    for (const r of regs) clients.set(r.name, new Client(r.url));
    log(`Berth pid ${regs[0]!.pid} at ${regs[0]!.url}; Distribution pid ${regs[1]!.pid} at ${regs[1]!.url}`);

    const sampler = new MemSampler(regs, 100);
    sampler.start();
    const ctx: Ctx = { settings, regs, clients, sampler, data, log, notes };

    span = cpuSpan();
    const blobs = await blobFigures(ctx);
    cpu.push(span('1–3 blob push and pull'));
    span = cpuSpan();
    const loadF = await manifestLoad(ctx, manifestImage);
    cpu.push(span('4 manifest GET/HEAD load'));
    span = cpuSpan();
    const images = await smallImages(ctx);
    cpu.push(span('5 small image pushes'));
    span = cpuSpan();
    const tags = await tagList(ctx);
    cpu.push(span('6 tag list'));
    span = cpuSpan();
    const big = await bigBlob(ctx);
    cpu.push(span('8 big blob'));
    // client figures (bench/clients.ts): real clients, after the HTTP figures
    const clientRows: Row[] = [];
    if (args.clients) {
      sampler.phase('10–11 real clients');
      for (const f of clientFigures) {
        span = cpuSpan();
        try {
          const rows = await f.run({ regs, clients: clients as Map<string, Client>, runs: args.quick ? 1 : args.clientRuns, tmp, log, notes });
          for (const r of rows) clientRows.push({ figure: r.title, unit: r.unit, better: r.better, values: r.values });
        } catch (e) {
          const why = (e as Error).message.split('\n').slice(0, 4).join(' ').slice(0, 400);
          log(`${f.name} failed: ${why}`);
          notes.push(`${f.name}: the client figure failed and has no row (${why})`);
        }
        cpu.push(span(f.name));
      }
    }
    sampler.stop();

    // memory
    const memory: MemoryPhaseRow[] = sampler.phaseNames().map((p) => ({
      phase: p,
      berthNode: sampler.get(p, 'Berth')?.mainPeak,
      berthPgPss: sampler.get(p, 'Berth')?.helperPssPeak,
      berthPgRss: sampler.get(p, 'Berth')?.helperRssPeak,
      distribution: sampler.get(p, 'Distribution')?.mainPeak,
    }));
    const ob = sampler.overall('Berth');
    const od = sampler.overall('Distribution');
    const pushPeak = sampler.get('8 big blob push', 'Berth')?.mainPeak;
    const pullPeak = sampler.get('8 big blob pull', 'Berth')?.mainPeak;
    const limit = BIG_BLOB_LIMIT_MIB * MiB;
    if ((pushPeak ?? Infinity) >= limit || (pullPeak ?? Infinity) >= limit) {
      notes.push(`Berth's RSS during the ${big.bytes / MiB} MiB blob was not below ${BIG_BLOB_LIMIT_MIB} MiB (push ${num((pushPeak ?? NaN) / MiB)} MiB, pull ${num((pullPeak ?? NaN) / MiB)} MiB)`);
    }

    const mb = settings.blobBytes / MiB;
    const memSpread = (b: number | undefined): Spread | undefined => (b ? spread([b / MiB]) : undefined);
    const onlyBerth = { Distribution: 'n/a (no database)' };
    const fileBest = ceil.fileStreams.find((f) => f.label.startsWith('node:http, fs.createReadStream, highWaterMark 1 MiB'));
    const loadRows = (method: string, l: LoadStats, c: Ceilings['manifestGet']): Row[] => [
      { figure: `4. manifest ${method} by tag, c=${settings.loadConnections}, ${settings.loadSeconds} s`, unit: 'req/s', better: 'higher', values: l.rps, ceiling: `bare node:http ${cell(c.rps)}` },
      { figure: `4. manifest ${method} p50`, unit: 'ms', better: 'lower', values: l.p50, ceiling: `bare ${cell(c.p50, 2)}`, digits: 2 },
      { figure: `4. manifest ${method} p99`, unit: 'ms', better: 'lower', values: l.p99, ceiling: `bare ${cell(c.p99, 2)}`, digits: 2 },
      { figure: `4. … registry CPU per ${method}`, unit: 'CPU µs', better: 'lower', values: l.cpu, ceiling: `bare ${cell(c.cpu)}` },
    ];
    const cpuNote = 'registry CPU';
    const rows: Row[] = [
      { figure: `1. blob push, monolithic (POST + one PUT), ${mb} MiB`, unit: 'MiB/s', better: 'higher', values: blobs.mono.value, ceiling: `bare node:http sha256+write ${cell(ceil.pushHashWrite.value)}; + fdatasync ${cell(ceil.pushHashWriteSync.value)}` },
      { figure: `1. … ${cpuNote} per GiB pushed`, unit: 'CPU s', better: 'lower', values: blobs.mono.cpu, ceiling: `bare sha256+write ${cell(ceil.pushHashWrite.cpu)}`, digits: 2 },
      { figure: `2. blob push, chunked (${settings.chunkBytes / MiB} MiB PATCHes), ${mb} MiB`, unit: 'MiB/s', better: 'higher', values: blobs.chunked.value, ceiling: 'as 1' },
      { figure: `2. … ${cpuNote} per GiB pushed`, unit: 'CPU s', better: 'lower', values: blobs.chunked.cpu, ceiling: 'as 1', digits: 2 },
      { figure: `3. blob pull, ${mb} MiB`, unit: 'MiB/s', better: 'higher', values: blobs.pull.value, ceiling: `bare node:http from memory ${cell(ceil.pullMem.value)}; from file, 1 MiB reads ${cell(fileBest?.value)}` },
      { figure: `3. … ${cpuNote} per GiB pulled`, unit: 'CPU s', better: 'lower', values: blobs.pull.cpu, ceiling: `bare from memory ${cell(ceil.pullMem.cpu)}; from file ${cell(fileBest?.cpu)}`, digits: 2 },
      ...loadRows('GET', loadF.get, ceil.manifestGet),
      ...loadRows('HEAD', loadF.head, ceil.manifestHead),
      { figure: `5. small image pushes (${settings.images} images, config + 2 layers + manifest, c=${settings.imageConcurrency})`, unit: 'images/s', better: 'higher', values: images.value },
      { figure: `5. … ${cpuNote} per image`, unit: 'CPU ms', better: 'lower', values: images.cpu },
      { figure: `6. tagging one manifest ${settings.tags} times (set-up, c=${settings.tagConcurrency})`, unit: 'tags/s', better: 'higher', values: tags.setup },
      { figure: `6. tag list, ${settings.tags} tags, whole`, unit: 'ms', better: 'lower', values: tags.whole.value },
      { figure: `6. … ${cpuNote} per whole listing`, unit: 'CPU ms', better: 'lower', values: tags.whole.cpu },
      { figure: `6. tag list, ${settings.tags} tags, paged by ${settings.tagPage} via Link (${pagesText(tags.pages)})`, unit: 'ms', better: 'lower', values: pagedOnly(tags.paged.value, tags.pages, settings, notes), missing: { Distribution: 'does not page (n, last ignored)', Berth: 'does not page (n, last ignored)' } },
      { figure: `6. … ${cpuNote} per paged listing`, unit: 'CPU ms', better: 'lower', values: pagedOnly(tags.paged.cpu, tags.pages, settings, []), missing: { Distribution: '—', Berth: '—' } },
      { figure: '7. peak RSS, registry process, whole run', unit: 'MiB', better: 'lower', values: { Berth: memSpread(ob.mainPeak), Distribution: memSpread(od.mainPeak) } },
      { figure: `7. peak of Berth's embedded PostgreSQL (${ob.helperCount} processes), summed PSS`, unit: 'MiB', better: 'lower', values: { Berth: memSpread(ob.helperPssPeak) }, missing: onlyBerth },
      { figure: "7. … the same, summed RSS (shared buffers counted per process)", unit: 'MiB', better: 'lower', values: { Berth: memSpread(ob.helperRssPeak) }, missing: onlyBerth },
      { figure: `8. peak RSS while pushing a ${big.bytes / MiB} MiB blob`, unit: 'MiB', better: 'lower', values: { Berth: memSpread(pushPeak), Distribution: memSpread(sampler.get('8 big blob push', 'Distribution')?.mainPeak) }, ceiling: `Berth limit < ${BIG_BLOB_LIMIT_MIB}` },
      { figure: `8. peak RSS while pulling the ${big.bytes / MiB} MiB blob`, unit: 'MiB', better: 'lower', values: { Berth: memSpread(pullPeak), Distribution: memSpread(sampler.get('8 big blob pull', 'Distribution')?.mainPeak) }, ceiling: `Berth limit < ${BIG_BLOB_LIMIT_MIB}` },
      { figure: `8. push of the ${big.bytes / MiB} MiB blob`, unit: 'MiB/s', better: 'higher', values: perSingle(big.push) },
      { figure: `8. pull of the ${big.bytes / MiB} MiB blob`, unit: 'MiB/s', better: 'higher', values: perSingle(big.pull) },
      { figure: '9. sha256, openssl speed (one core)', unit: 'MiB/s', better: 'none', values: {}, ceiling: num(ceil.opensslSha256) },
      { figure: `9. sequential write, dd ${ceil.ddMiB} MiB conv=fdatasync`, unit: 'MiB/s', better: 'none', values: {}, ceiling: cell(ceil.dd) },
      ...clientRows,
    ];

    for (const x of cpu) {
      if (x.foreign >= QUIET) notes.push(`other processes used ${(x.foreign * 100).toFixed(0)} % of the machine during "${x.figure}": its figures are disturbed`);
    }
    const loadAfter = loadavg();
    const reportNotes = [...notes, ...(args.s3 ? ['the S3 figures of both registries are in the S3 section\'s own file (`<date>-s3.md`)'] : [])];
    const report = renderReport({
      date,
      startedAt: startedAt.toISOString(),
      command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
      wallSeconds: (performance.now() - t00) / 1000,
      machine,
      loadBefore,
      loadAfter,
      busyBefore,
      settings,
      clientRuns: args.quick ? 1 : args.clientRuns,
      rows,
      ceilings: ceil,
      memory,
      memoryExact: sampler.exact(),
      bigBlob: { mib: big.bytes / MiB, pushPeak, pullPeak, limitMiB: BIG_BLOB_LIMIT_MIB },
      cpu,
      notes: reportNotes,
      berthCommit: berth.described,
    });
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, report);
    log(`wrote ${relative(process.cwd(), out)}`);
    process.stdout.write(report);
    if (args.proxy) await proxySection();
    if (args.s3) await s3Section();
  } catch (e) {
    for (const r of regs) {
      const o = r.output().trim();
      if (o) log(`${r.name} output (last 3000 chars):\n${o.slice(-3000)}`);
    }
    throw e;
  } finally {
    await cleanup();
    clearTimeout(watchdog);
  }
}

function perSingle(v: PerRegistry<number>): PerRegistry<Spread> {
  const o: PerRegistry<Spread> = {};
  for (const [k, x] of Object.entries(v) as Array<[RegistryName, number]>) o[k] = single(x);
  return o;
}

/** The paged figure only for registries that did page; a registry that answered everything at once is noted. */
function pagedOnly(paged: PerRegistry<Spread>, pages: PerRegistry<number>, s: Settings, notes: string[]): PerRegistry<Spread> {
  const o: PerRegistry<Spread> = {};
  for (const [k, v] of Object.entries(paged) as Array<[RegistryName, Spread]>) {
    if ((pages[k] ?? 0) > 1 || s.tags <= s.tagPage) o[k] = v;
    else notes.push(`${k} answered \`tags/list?n=${s.tagPage}\` with all ${s.tags} tags in one response and no Link header: it does not page tag lists (CNCF Distribution 2.8 ignores n and last there, and lists tags unsorted), so it has no paged figure`);
  }
  return o;
}

function pagesText(p: PerRegistry<number>): string {
  return Object.entries(p)
    .map(([k, n]) => `${k} ${n} pages`)
    .join(', ');
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    log(`failed: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
