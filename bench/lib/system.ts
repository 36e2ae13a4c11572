// Running commands, installing Debian packages, and describing the machine.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { delimiter, join } from 'node:path';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command to completion (killed by PID after timeoutMs); never throws on a non-zero exit. */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; inherit?: boolean } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', opts.inherit ? 'inherit' : 'pipe', opts.inherit ? 'inherit' : 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (b: Buffer) => {
      if (stdout.length < 4_000_000) stdout += b.toString('utf8');
    });
    child.stderr?.on('data', (b: Buffer) => {
      if (stderr.length < 4_000_000) stderr += b.toString('utf8');
    });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }, opts.timeoutMs ?? 600_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

export async function runOk(cmd: string, args: readonly string[], opts: Parameters<typeof run>[2] = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code ?? r.signal}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
  }
  return r;
}

/** The absolute path of an executable on PATH or in the usual system dirs, or null. */
export function findTool(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

function isDebian(): boolean {
  try {
    return /^(ID|ID_LIKE)=.*debian/im.test(readFileSync('/etc/os-release', 'utf8')) && findTool('apt-get') !== null;
  } catch {
    return false;
  }
}

/**
 * Makes sure each tool is there; installs the Debian packages of the missing ones when this runs
 * as root on Debian. A policy-rc.d that says "no" keeps package scripts from starting system
 * services (docker-registry and docker.io ship units): the bench starts its own processes.
 */
export async function ensureTools(wanted: ReadonlyArray<{ tool: string; pkg: string }>, log: (s: string) => void): Promise<void> {
  const missing = wanted.filter((w) => findTool(w.tool) === null);
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  if (process.getuid?.() !== 0 || !isDebian()) {
    throw new Error(
      `missing tools: ${missing.map((m) => m.tool).join(', ')}; install the Debian packages ${pkgs.join(' ')} (apt-get install -y --no-install-recommends ${pkgs.join(' ')})`,
    );
  }
  log(`installing Debian packages: ${pkgs.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    await runOk('apt-get', ['update', '-q'], { env, timeoutMs: 300_000 });
    await runOk('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], { env, timeoutMs: 600_000 });
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
  const still = wanted.filter((w) => findTool(w.tool) === null);
  if (still.length > 0) throw new Error(`still missing after apt-get install: ${still.map((m) => m.tool).join(', ')}`);
}

export interface CpuTimes {
  busy: number;
  total: number;
}

/** Aggregate CPU jiffies from /proc/stat. */
export function cpuTimes(): CpuTimes {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Fraction of all CPUs busy over `ms`. */
export async function cpuBusyOver(ms: number): Promise<number> {
  const a = cpuTimes();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuTimes();
  return b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0;
}

export function loadavg(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memTotalGiB: number;
  kernel: string;
  os: string;
  node: string;
  distribution: string;
  openssl: string;
}

export async function machineInfo(): Promise<MachineInfo> {
  let osName = os.type();
  try {
    osName = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? osName;
  } catch {
    // keep os.type()
  }
  const reg = findTool('docker-registry');
  const distVersion = reg ? (await run(reg, ['--version'], { timeoutMs: 10_000 })).stdout.trim() : 'not installed';
  const ssl = findTool('openssl');
  const sslVersion = ssl ? (await run(ssl, ['version'], { timeoutMs: 10_000 })).stdout.trim() : 'not installed';
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memTotalGiB: os.totalmem() / 1024 ** 3,
    kernel: os.release(),
    os: osName,
    node: process.version,
    distribution: distVersion,
    openssl: sslVersion,
  };
}

/** utime+stime+cutime+cstime of a process, in the same clock ticks as /proc/stat (0 once it is gone). */
export function procJiffies(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // after ')' field 0 is state (3rd overall): utime is overall field 14 → index 11 here
    return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  } catch {
    return 0;
  }
}
