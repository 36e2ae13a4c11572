// A private Docker daemon for one test file.
//
// Everything it owns lives in one temp dir: socket, data root (vfs storage: no overlay mounts,
// works in any container/VM), exec root (its own managed containerd), pid file, CLI config.
// It never touches a system dockerd: own socket, own config file (not /etc/docker/daemon.json),
// own containerd namespace (in case it attaches to a system containerd), no bridge, no iptables.
// Registries on 127.0.0.0/8 are insecure by default for dockerd, so http://127.0.0.1:PORT works
// for push/pull without --insecure-registry.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive } from './child-processes.js';
import { describeRun, run, runOk, settlesWithin, toolPath, type RunOptions, type RunResult } from './system-tools.js';

export interface Dockerd {
  /** DOCKER_HOST value: unix://<tmp>/docker.sock */
  host: string;
  pid: number;
  /** env for running the docker CLI against this daemon */
  env: NodeJS.ProcessEnv;
  /** scratch dir inside the daemon's temp dir, for build contexts and copies */
  workDir: string;
  /** `docker <args>` against this daemon; never throws on a non-zero exit */
  docker(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** `docker <args>`; throws with the output unless it exits 0 */
  dockerOk(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** the daemon's log (for failure messages) */
  log(): string;
  stop(): Promise<void>;
}

const live = new Set<{ pid: number; dir: string }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort if a test file dies without calling stop(): kill our daemons by PID.
  process.on('exit', () => {
    for (const d of live) {
      try {
        process.kill(d.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

function readPid(file: string): number | null {
  try {
    const n = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isFinite(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}


async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(100);
  }
  return !isAlive(pid);
}

/** Mount points at or under dir (deepest first), from /proc/self/mountinfo. */
function mountsUnder(dir: string): string[] {
  let info = '';
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of info.split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const decoded = mp.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (decoded === dir || decoded.startsWith(dir + '/')) out.push(decoded);
  }
  return out.sort((a, b) => b.length - a.length);
}

export interface StartDockerdOptions {
  /** ms to wait for `docker info` (default 60 s) */
  timeoutMs?: number;
  /**
   * vfs (default) works anywhere; overlay2 (needs overlay mounts on the temp dir's file system)
   * makes builds with large layers many times faster, since vfs copies the whole tree per layer.
   */
  storageDriver?: 'vfs' | 'overlay2';
  /** daemon.json settings, e.g. `registry-mirrors` (default: none). */
  daemonConfig?: Record<string, unknown>;
}

export async function startDockerd(opts: StartDockerdOptions = {}): Promise<Dockerd> {
  const dockerdBin = toolPath('dockerd');
  const dockerBin = toolPath('docker');
  installExitHook();

  // Short path: unix socket paths are limited to 108 bytes (containerd's socket is nested deeper).
  const dir = mkdtempSync(join(tmpdir(), 'berth-dkd-'));
  const sock = join(dir, 'docker.sock');
  const dataRoot = join(dir, 'root');
  const execRoot = join(dir, 'exec');
  const pidFile = join(dir, 'docker.pid');
  const configFile = join(dir, 'daemon.json');
  const cliConfig = join(dir, 'cli');
  const workDir = join(dir, 'work');
  const logFile = join(dir, 'dockerd.log');
  for (const d of [dataRoot, execRoot, cliConfig, workDir]) mkdirSync(d, { recursive: true });
  writeFileSync(configFile, JSON.stringify(opts.daemonConfig ?? {}) + '\n');
  writeFileSync(join(cliConfig, 'config.json'), '{}\n');
  const ns = `berth-e2e-${randomBytes(4).toString('hex')}`;

  const args = [
    '--config-file', configFile,
    `--storage-driver=${opts.storageDriver ?? 'vfs'}`,
    '--iptables=false',
    '--ip6tables=false',
    '--ip-forward=false',
    '--ip-masq=false',
    '--bridge=none',
    '-H', `unix://${sock}`,
    '--data-root', dataRoot,
    '--exec-root', execRoot,
    '--pidfile', pidFile,
    '--containerd-namespace', ns,
    '--containerd-plugins-namespace', `${ns}-plugins`,
    '--log-level', 'warn',
  ];
  const logFd = openSync(logFile, 'a');
  const child: ChildProcess = spawn(dockerdBin, args, {
    stdio: ['ignore', logFd, logFd],
    detached: false,
  });
  closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn ${dockerdBin}`);
  const entry = { pid, dir };
  live.add(entry);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exitedPromise = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DOCKER_HOST: `unix://${sock}`,
    DOCKER_CONFIG: cliConfig,
    // The classic builder: no buildx plugin needed, and FROM scratch + COPY is all we build.
    DOCKER_BUILDKIT: '0',
    DOCKER_CLI_HINTS: 'false',
  };
  delete env.DOCKER_CONTEXT;
  delete env.DOCKER_TLS_VERIFY;
  delete env.DOCKER_CERT_PATH;

  const log = (): string => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };

  const docker = (a: readonly string[], o: RunOptions = {}) => run(dockerBin, a, { ...o, env: { ...env, ...o.env } });
  const dockerOk = (a: readonly string[], o: RunOptions = {}) =>
    runOk(dockerBin, a, { ...o, env: { ...env, ...o.env } });

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const containerdPid = readPid(join(execRoot, 'containerd', 'containerd.pid'));
    if (exited === null) {
      child.kill('SIGTERM');
      const done = await settlesWithin(exitedPromise, 20_000);
      if (!done) {
        child.kill('SIGKILL');
        await exitedPromise;
      }
    }
    // dockerd stops the containerd it started; make sure (by its PID) if it was killed hard.
    if (containerdPid !== null && isAlive(containerdPid)) {
      try {
        const cmdline = readFileSync(`/proc/${containerdPid}/cmdline`, 'utf8');
        if (cmdline.includes(dir)) {
          process.kill(containerdPid, 'SIGTERM');
          if (!(await waitGone(containerdPid, 5000))) process.kill(containerdPid, 'SIGKILL');
        }
      } catch {
        // gone
      }
    }
    live.delete(entry);
    // dockerd bind-mounts its data root; a clean shutdown unmounts it, a hard kill may not.
    for (const mp of mountsUnder(dir)) {
      await run('umount', ['-l', mp]).catch(() => undefined);
    }
    if (process.env.BERTH_E2E_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let last: RunResult | null = null;
  for (;;) {
    if (exited !== null) {
      await stop();
      const e = exited as { code: number | null; signal: NodeJS.Signals | null };
      throw new Error(`dockerd exited during start-up (code=${e.code} signal=${e.signal}):\n${log().slice(-6000)}`);
    }
    last = await docker(['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 10_000 });
    if (last.code === 0) break;
    if (Date.now() > deadline) {
      const msg = `dockerd did not answer within ${opts.timeoutMs ?? 60_000} ms:\n${describeRun(last)}\n--- dockerd log ---\n${log().slice(-6000)}`;
      await stop();
      throw new Error(msg);
    }
    await sleep(200);
  }

  return { host: `unix://${sock}`, pid, env, workDir, docker, dockerOk, log, stop };
}
