// A PostgreSQL of a fault test's own, which the test restarts (fast or immediate shutdown, then a
// start), stops and starts, or whose postmaster it kills with SIGKILL: the shared server of the
// test run must never be touched. Started exactly as Berth starts its embedded one
// (src/db/embedded.ts: as root through a user namespace), so it works from a checkout in a 0700
// directory too, with a loopback port for the registries under test.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded.js';
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

/** The signals pg_ctl sends for each shutdown mode. */
const SHUTDOWN_SIGNAL = { fast: 'SIGINT', immediate: 'SIGQUIT' } as const;

export async function startFaultPostgres(): Promise<FaultPostgres> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-fault-pg-'));
  const port = await freePort();
  let server: EmbeddedDatabase | undefined;
  const start = async () => {
    // After a SIGKILL of the postmaster its orphaned backends hold the shared memory until they
    // notice and exit: the first attempts may be refused.
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        server = await startEmbeddedPostgres(dir, { tcpPort: port, settings: { fsync: 'off', max_connections: '200' } });
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(250);
      }
    }
  };
  const postmasterPid = async () => Number((await readFile(path.join(dir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    const pid = await postmasterPid().catch(() => undefined);
    if (pid === undefined || !(await running(pid))) return;
    process.kill(pid, SHUTDOWN_SIGNAL[mode]);
    const deadline = Date.now() + 60_000;
    while ((await running(pid)) && Date.now() < deadline) await sleep(20);
    server = undefined;
  };
  await start();
  return {
    port,
    adminUrl: `postgres://berth:berth@127.0.0.1:${port}/postgres`,
    async restart(mode) {
      await stop(mode);
      await start();
    },
    stop,
    start,
    async killPostmaster() {
      const pid = await postmasterPid();
      process.kill(pid, 'SIGKILL');
      const deadline = Date.now() + 30_000;
      while ((await running(pid)) && Date.now() < deadline) await sleep(20);
      server = undefined;
    },
    async destroy() {
      await stop('immediate').catch(() => {});
      await server?.stop().catch(() => {});
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
