// The two registries under test as child processes on 127.0.0.1, and a memory sampler that
// watches them (and Berth's embedded PostgreSQL) through /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, isAlive, killOnExit } from '../../test/helpers/child-processes.js';
import { writeDistributionConfig, type DistributionS3Options } from '../../test/helpers/distribution.js';
import { findTool } from './system.js';

export type RegistryName = 'Berth' | 'Distribution';

export interface RegistryProc {
  name: RegistryName;
  /** http://127.0.0.1:<port> */
  url: string;
  pid: number;
  /** where its blobs live (for the report) */
  dataDir: string;
  /** PIDs of processes that belong to it besides the main one (Berth: the embedded PostgreSQL tree) */
  helperPids(): number[];
  output(): string;
  stop(): Promise<void>;
}

export { freePort };

/** PIDs of all descendants of `root` (one scan of /proc). */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // the command name may hold spaces and parentheses: fields start after the last ')'
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(rest[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {
      // exited while scanning
    }
  }
  const out: number[] = [];
  const stack = [...(children.get(root) ?? [])];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}


/** VmRSS and VmHWM of a process in bytes (undefined once it is gone). */
export function memStatus(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Proportional set size in bytes: shared pages (PostgreSQL's shared buffers) split among their users. */
export function pss(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return Number(/^Pss:\s+(\d+) kB/m.exec(s)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** Resets the kernel's peak-RSS mark (VmHWM) of a process to its current RSS (Linux ≥ 4.0). */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

async function waitReady(url: string, child: ChildProcess, out: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`exited during start-up (code=${child.exitCode} signal=${child.signalCode})\n${out().slice(-6000)}`);
    }
    try {
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `GET /v2/ answered ${res.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`not ready within ${timeoutMs} ms (${last})\n${out().slice(-6000)}`);
    await sleep(100);
  }
}

function spawnTracked(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string) {
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  let out = '';
  const rec = (b: Buffer) => {
    out += b.toString('utf8');
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout?.on('data', rec);
  child.stderr?.on('data', rec);
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => {
      resolve();
    });
  });
  return { child, exited, output: () => out };
}

async function stopChild(child: ChildProcess, exited: Promise<void>, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill('SIGTERM');
  const done = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!done) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Berth from the built dist/, with its embedded PostgreSQL (DATABASE_URL unset) in dataDir. */
export async function startBerth(o: {
  repoRoot: string;
  dataDir: string;
  extraEnv?: Record<string, string>;
  /** node flags before dist/cli.js, e.g. --cpu-prof (NODE_OPTIONS is cleared) */
  nodeArgs?: string[];
}): Promise<RegistryProc> {
  const port = await freePort();
  const pgPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BERTH_ADDR: `127.0.0.1:${port}`,
    BERTH_DATA_DIR: o.dataDir,
    BERTH_EMBEDDED_PG_PORT: String(pgPort),
    BERTH_STORAGE: 'fs',
    LOG_LEVEL: 'warn',
    ...o.extraEnv,
  };
  delete env.DATABASE_URL;
  delete env.NODE_OPTIONS;
  const { child, exited, output } = spawnTracked(process.execPath, [...(o.nodeArgs ?? []), join(o.repoRoot, 'dist', 'cli.js'), 'serve'], env, o.repoRoot);
  const url = `http://127.0.0.1:${port}`;
  let known: number[] = [];
  const helperPids = () => {
    if (child.pid === undefined) return [];
    const now = descendants(child.pid);
    if (now.length > 0) known = now;
    return now;
  };
  const proc: RegistryProc = {
    name: 'Berth',
    url,
    pid: child.pid ?? -1,
    dataDir: o.dataDir,
    helperPids,
    output,
    async stop() {
      helperPids();
      await stopChild(child, exited, 20_000);
      // Berth stops its PostgreSQL on SIGTERM; if it could not, stop what is left of the tree we saw.
      const left = known.filter(isAlive);
      for (const p of left) {
        try {
          process.kill(p, 'SIGINT');
        } catch {
          // gone
        }
      }
      for (let i = 0; i < 50 && left.some(isAlive); i++) await sleep(100);
      for (const p of left.filter(isAlive)) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // gone
        }
      }
    },
  };
  try {
    await waitReady(url, child, output, 90_000);
  } catch (e) {
    await proc.stop();
    throw new Error(`Berth: ${(e as Error).message}`);
  }
  return proc;
}

/**
 * CNCF Distribution (`docker-registry serve`) with its own config: filesystem storage in dataDir
 * (or its s3 driver with `s3`), delete enabled, log level error, the in-memory blob descriptor
 * cache of the shipped default config.
 */
export async function startDistribution(o: { dataDir: string; s3?: DistributionS3Options }): Promise<RegistryProc> {
  const bin = findTool('docker-registry');
  if (!bin) throw new Error('docker-registry is not installed');
  const port = await freePort();
  const cfg = writeDistributionConfig({ dataDir: o.dataDir, port, logLevel: 'error', blobDescriptorCache: true, s3: o.s3 });
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Its Go AWS SDK (v1) fails to start its session while AWS_CA_BUNDLE is set here (and talks plain
  // http to 127.0.0.1 anyway).
  if (o.s3) delete env.AWS_CA_BUNDLE;
  const { child, exited, output } = spawnTracked(bin, ['serve', cfg], env, o.dataDir);
  const url = `http://127.0.0.1:${port}`;
  const proc: RegistryProc = {
    name: 'Distribution',
    url,
    pid: child.pid ?? -1,
    dataDir: o.dataDir,
    helperPids: () => [],
    output,
    stop: () => stopChild(child, exited, 10_000),
  };
  try {
    await waitReady(url, child, output, 30_000);
  } catch (e) {
    await proc.stop();
    throw new Error(`Distribution: ${(e as Error).message}`);
  }
  return proc;
}

export interface PhaseMemory {
  /** peak RSS of the main process (kernel VmHWM, reset at each phase start; sampled max where that is not possible) */
  mainPeak: number;
  /** peak of the sum of VmRSS over the helper processes (counts shared memory once per process) */
  helperRssPeak: number;
  /** peak of the sum of PSS over the helper processes (shared memory split fairly) */
  helperPssPeak: number;
  /** the most helper processes seen at once */
  helperCount: number;
  samples: number;
}

/** Samples each registry's memory every `intervalMs` and keeps the peaks per named phase. */
export class MemSampler {
  private timer: NodeJS.Timeout | null = null;
  private current = 'start-up';
  private readonly phases = new Map<string, Map<RegistryName, PhaseMemory>>();
  private helperCache = new Map<RegistryName, { at: number; pids: number[] }>();
  private hwmExact = true;

  constructor(private readonly regs: readonly RegistryProc[], private readonly intervalMs = 100) {}

  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
  }

  /** Closes the current phase (reads each main process's VmHWM) and starts the next one. */
  phase(name: string): void {
    this.closePhase();
    this.current = name;
    for (const r of this.regs) if (!resetPeak(r.pid)) this.hwmExact = false;
    this.tick();
  }

  stop(): void {
    this.closePhase();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** true when every phase peak of a main process came from the kernel's VmHWM */
  exact(): boolean {
    return this.hwmExact;
  }

  get(phase: string, reg: RegistryName): PhaseMemory | undefined {
    return this.phases.get(phase)?.get(reg);
  }

  phaseNames(): string[] {
    return [...this.phases.keys()];
  }

  /** Peaks over all phases. */
  overall(reg: RegistryName): PhaseMemory {
    const o: PhaseMemory = { mainPeak: 0, helperRssPeak: 0, helperPssPeak: 0, helperCount: 0, samples: 0 };
    for (const m of this.phases.values()) {
      const p = m.get(reg);
      if (!p) continue;
      o.mainPeak = Math.max(o.mainPeak, p.mainPeak);
      o.helperRssPeak = Math.max(o.helperRssPeak, p.helperRssPeak);
      o.helperPssPeak = Math.max(o.helperPssPeak, p.helperPssPeak);
      o.helperCount = Math.max(o.helperCount, p.helperCount);
      o.samples += p.samples;
    }
    return o;
  }

  private entry(reg: RegistryName): PhaseMemory {
    let m = this.phases.get(this.current);
    if (!m) {
      m = new Map();
      this.phases.set(this.current, m);
    }
    let e = m.get(reg);
    if (!e) {
      e = { mainPeak: 0, helperRssPeak: 0, helperPssPeak: 0, helperCount: 0, samples: 0 };
      m.set(reg, e);
    }
    return e;
  }

  private closePhase(): void {
    for (const r of this.regs) {
      const s = memStatus(r.pid);
      if (s) {
        const e = this.entry(r.name);
        e.mainPeak = Math.max(e.mainPeak, s.hwm, s.rss);
      }
    }
  }

  private helpers(r: RegistryProc): number[] {
    const c = this.helperCache.get(r.name);
    const now = Date.now();
    if (c && now - c.at < 1000) return c.pids;
    const pids = r.helperPids();
    this.helperCache.set(r.name, { at: now, pids });
    return pids;
  }

  private tick(): void {
    for (const r of this.regs) {
      const e = this.entry(r.name);
      const s = memStatus(r.pid);
      if (s) e.mainPeak = Math.max(e.mainPeak, s.rss);
      const hp = this.helpers(r);
      if (hp.length > 0) {
        let rss = 0;
        let ps = 0;
        let n = 0;
        for (const p of hp) {
          const m = memStatus(p);
          if (!m) continue;
          n++;
          rss += m.rss;
          ps += pss(p);
        }
        e.helperRssPeak = Math.max(e.helperRssPeak, rss);
        e.helperPssPeak = Math.max(e.helperPssPeak, ps);
        e.helperCount = Math.max(e.helperCount, n);
      }
      e.samples++;
    }
  }
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/**
 * CPU seconds used so far by a process: the run time of each of its threads from
 * /proc/<pid>/task/<tid>/schedstat (nanoseconds), plus the time of its reaped children
 * (cutime + cstime, clock ticks). Falls back to utime + stime where schedstat is missing.
 */
export function processCpuSeconds(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const children = (Number(f[13]) + Number(f[14])) / TICKS_PER_SECOND;
  let ns = 0;
  let ok = false;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
        ok = true;
      } catch {
        // thread gone
      }
    }
  } catch {
    // process gone
  }
  const own = ok ? ns / 1e9 : (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
  return own + children;
}

/** CPU seconds used so far by a registry: its main process and its helpers. */
export function cpuSeconds(r: RegistryProc, helpers: number[] = r.helperPids()): number {
  let s = processCpuSeconds(r.pid);
  for (const p of helpers) s += processCpuSeconds(p);
  return s;
}

/**
 * Starts a CPU meter on a registry; the returned function gives the CPU seconds it used since.
 * Helpers that appear meanwhile (new PostgreSQL backends) count from zero; those that exit
 * meanwhile are in their parent's reaped-children time.
 */
export function cpuMeter(r: RegistryProc): () => number {
  const before = r.helperPids();
  const c0 = cpuSeconds(r, before);
  return () => {
    const after = new Set([...before, ...r.helperPids()]);
    return cpuSeconds(r, [...after]) - c0;
  };
}
