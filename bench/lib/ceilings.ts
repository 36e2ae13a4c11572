// Machine ceilings measured in the same run: what the CPU, the disk and a bare Node server on
// this machine can do, so the registry figures can be read against them.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { MiB } from './stats.js';
import { findTool, run } from './system.js';

/** `openssl speed -evp sha256 -bytes 1048576 -seconds N` → MiB/s (one core). */
export async function opensslSha256(seconds = 3): Promise<number> {
  const bin = findTool('openssl');
  if (!bin) return NaN;
  const r = await run(bin, ['speed', '-evp', 'sha256', '-bytes', '1048576', '-seconds', String(seconds)], { timeoutMs: 60_000 });
  // the result line: "sha256   1234567.89k" (k = 1000 bytes per second)
  const m = /^sha256\s+([\d.]+)k\s*$/im.exec(r.stdout);
  return m ? (Number(m[1]) * 1000) / MiB : NaN;
}

/** node:crypto sha256 over a buffer → MiB/s. */
export function nodeSha256(buf: Buffer): number {
  const t0 = performance.now();
  const h = createHash('sha256');
  for (let off = 0; off < buf.length; off += MiB) h.update(buf.subarray(off, off + MiB));
  h.digest();
  return buf.length / MiB / ((performance.now() - t0) / 1000);
}

/** `dd if=/dev/zero of=<dir>/dd.bin bs=1M count=<mib> conv=fdatasync` → MiB/s. */
export async function ddWrite(dir: string, mib: number): Promise<number> {
  const out = join(dir, 'dd.bin');
  try {
    const r = await run('dd', ['if=/dev/zero', `of=${out}`, 'bs=1M', `count=${mib}`, 'conv=fdatasync'], { timeoutMs: 300_000 });
    const m = /(\d+) bytes.*copied, ([\d.]+) s/.exec(r.stderr);
    return m ? Number(m[1]) / MiB / Number(m[2]) : NaN;
  } finally {
    rmSync(out, { force: true });
  }
}

export interface BareServer {
  httpUrl: string;
  koaUrl: string;
  /** Koa on a server with 4 MiB socket/response buffers */
  koaBigUrl: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts bench/bare-server.ts as a child process (see that file for its routes). */
export async function startBare(o: { benchDir: string; file: string; uploadDir: string; memBytes: number; manifestFile: string }): Promise<BareServer> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', join(o.benchDir, 'bare-server.ts'), o.file, o.uploadDir, String(o.memBytes), o.manifestFile],
    { cwd: join(o.benchDir, '..'), stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
    if (!done) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  const line = await Promise.race([
    new Promise<string>((resolve) => {
      const rl = createInterface({ input: child.stdout! });
      rl.once('line', (l) => resolve(l));
    }),
    exited.then(() => {
      throw new Error('bare server exited during start-up');
    }),
    sleep(60_000).then(() => {
      throw new Error('bare server did not start within 60 s');
    }),
  ]).catch(async (e: unknown) => {
    await stop();
    throw e;
  });
  const ports = JSON.parse(line) as { http: number; koa: number; koaBig: number };
  return {
    httpUrl: `http://127.0.0.1:${ports.http}`,
    koaUrl: `http://127.0.0.1:${ports.koa}`,
    koaBigUrl: `http://127.0.0.1:${ports.koaBig}`,
    pid: child.pid ?? -1, stop };
}
