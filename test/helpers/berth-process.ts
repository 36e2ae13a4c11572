// Runs the registry under test as a child process on 127.0.0.1:<free port>.
//
// Default target: Berth — `node --import tsx src/cli.ts serve` from the repo root, with its own
// data dir and its own fresh PostgreSQL database (CREATE DATABASE e2e_<random> on the server
// DATABASE_URL points at; dropped by destroy()).
//
// BERTH_E2E_TARGET=distribution runs CNCF Distribution (`docker-registry serve`, Debian package
// docker-registry) instead, with filesystem storage in the data dir and delete enabled: the
// reference registry the harness itself was developed against.
//
// An instance can be stopped (SIGTERM) or killed (SIGKILL) and started again on the same port,
// data dir and database: restart and crash tests.
//
// BERTH_TEST_STORAGE=s3 (the second pass of `npm test`): Berth keeps its blobs in S3, on one
// s3rver per registry started here (restarts and replicas share it; stopped by destroy()).
import { freePort, killOnExit } from './child-processes.js';
import { writeDistributionConfig } from './distribution.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { S3RVER_CREDENTIALS, startS3rver, type TestS3 } from './s3rver.js';
import { settlesWithin, toolPath } from './system-tools.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export type Target = 'berth' | 'distribution';

export function e2eTarget(): Target {
  const t = process.env.BERTH_E2E_TARGET ?? 'berth';
  if (t !== 'berth' && t !== 'distribution') throw new Error(`BERTH_E2E_TARGET must be berth or distribution, not ${t}`);
  return t;
}

/** Tools a target needs besides node (for suiteSkip/requireTool). */
export function targetTools(target: Target = e2eTarget()): string[] {
  return target === 'distribution' ? ['docker-registry'] : [];
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** ms from sending the signal until the process was gone */
  ms: number;
}

export interface RegistryInstance {
  target: Target;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** 127.0.0.1:<port>, for image references */
  readonly host: string;
  readonly port: number;
  /** PID of the current process (changes on restart) */
  readonly pid: number;
  readonly dataDir: string;
  /** the DATABASE_URL given to the child (Berth only) */
  readonly databaseUrl: string | undefined;
  /** The settings the Berth process was started with (BERTH_*, DATABASE_URL, AWS_*): what a CLI command run next to it needs. */
  settings(): Record<string, string>;
  /** is the process running */
  running(): boolean;
  /** last output of the current (or last) process */
  output(): string;
  /** sends `signal` (default SIGTERM), waits for exit (SIGKILL after timeoutMs, default 15 s) */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitInfo>;
  /** SIGKILL and wait */
  kill(): Promise<ExitInfo>;
  /** starts again on the same port, data dir and database; stops the current process first if running */
  restart(): Promise<void>;
  /**
   * Starts another process of the same registry (same data dir and database, its own port): a
   * second replica behind a load balancer. Its destroy() only stops it.
   */
  replica(env?: Record<string, string>): Promise<RegistryInstance>;
  /** stops the process; for the first instance also drops the database and removes the data dir */
  destroy(): Promise<void>;
}

export interface StartOptions {
  target?: Target;
  /** extra env for the child */
  env?: Record<string, string>;
  /** readiness timeout (default 30 s) */
  timeoutMs?: number;
  /** an existing directory to use as the data dir (e.g. on a small tmpfs); removed by destroy() */
  dataDir?: string;
}

export { freePort };

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = '/' + db;
  return u.toString();
}

async function adminQuery(sql: string): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function createDatabase(): Promise<{ name: string; url: string } | null> {
  const base = process.env.DATABASE_URL;
  if (!base) {
    process.stderr.write(
      '[berth-process] DATABASE_URL is not set: Berth will start its embedded PostgreSQL in the data dir\n',
    );
    return null;
  }
  const name = `e2e_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  return { name, url: withDatabase(base, name) };
}

async function dropDatabase(name: string): Promise<void> {
  try {
    await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } catch (e) {
    process.stderr.write(`[berth-process] could not drop database ${name}: ${(e as Error).message}\n`);
  }
}

class Instance implements RegistryInstance {
  target: Target;
  port: number;
  dataDir: string;
  databaseUrl: string | undefined;
  private dbName: string | undefined;
  private child: ChildProcess | null = null;
  private exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
  private out = '';
  private extraEnv: Record<string, string>;
  private timeoutMs: number;

  private owner: boolean;
  /** The S3 server Berth stores blobs on (BERTH_TEST_STORAGE=s3), shared with replicas. */
  private s3: TestS3 | undefined;

  constructor(o: { target: Target; port: number; dataDir: string; db: { name: string; url: string } | null; env: Record<string, string>; timeoutMs: number; owner?: boolean; s3?: TestS3 | undefined }) {
    this.owner = o.owner ?? true;
    this.s3 = o.s3;
    this.target = o.target;
    this.port = o.port;
    this.dataDir = o.dataDir;
    this.dbName = o.db?.name;
    this.databaseUrl = o.db?.url;
    this.extraEnv = o.env;
    this.timeoutMs = o.timeoutMs;
  }

  /** https:// when the instance serves TLS itself (BERTH_TLS_CERT in its env). */
  get url(): string {
    return `${this.extraEnv.BERTH_TLS_CERT ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }
  get pid(): number {
    return this.child?.pid ?? -1;
  }
  private started: Record<string, string> = {};
  settings(): Record<string, string> {
    return { ...this.started };
  }
  running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }
  output(): string {
    return this.out;
  }

  private record(chunk: Buffer): void {
    this.out += chunk.toString('utf8');
    if (this.out.length > 200_000) this.out = this.out.slice(-100_000);
  }

  async start(): Promise<void> {
    this.out = '';
    let cmd: string;
    let args: string[];
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.extraEnv };
    if (this.target === 'distribution') {
      cmd = toolPath('docker-registry');
      args = ['serve', writeDistributionConfig({ dataDir: this.dataDir, port: this.port })];
    } else {
      const cli = join(REPO_ROOT, 'src', 'cli.ts');
      if (!existsSync(cli)) throw new Error(`${cli} does not exist (the Berth server is not there yet); BERTH_E2E_TARGET=distribution runs the reference registry`);
      cmd = process.execPath;
      args = ['--import', 'tsx', cli, 'serve'];
      env.BERTH_ADDR = `127.0.0.1:${this.port}`;
      env.BERTH_DATA_DIR = this.dataDir;
      env.LOG_LEVEL = this.extraEnv.LOG_LEVEL ?? 'warn';
      if (this.s3) {
        Object.assign(env, {
          BERTH_STORAGE: 's3',
          BERTH_S3_ENDPOINT: this.s3.endpoint,
          BERTH_S3_BUCKET: this.s3.bucket,
          BERTH_S3_FORCE_PATH_STYLE: 'true',
          BERTH_S3_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
          AWS_REGION: 'us-east-1',
        });
      }
      if (this.databaseUrl) env.DATABASE_URL = this.databaseUrl;
      // embedded PostgreSQL: on its Unix socket in the data dir, no port needed
      else delete env.DATABASE_URL;
      // the test runner's own flags must not leak into the server
      delete env.NODE_TEST_CONTEXT;
      delete env.NODE_OPTIONS;
      this.started = Object.fromEntries(
        Object.entries(env).filter((e): e is [string, string] => /^(BERTH_|DATABASE_URL$|AWS_)/.test(e[0]) && e[1] !== undefined),
      );
    }
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    killOnExit(child);
    child.stdout?.on('data', (b: Buffer) => this.record(b));
    child.stderr?.on('data', (b: Buffer) => this.record(b));
    this.exit = new Promise((res) => {
      child.on('exit', (code, signal) => {
        this.record(Buffer.from(`\n[berth-process] ${this.target} pid ${child.pid} exited: code=${code} signal=${signal}\n`));
        res({ code, signal });
      });
    });
    child.on('error', (e) => this.record(Buffer.from(`[spawn error] ${e.message}\n`)));

    const deadline = Date.now() + this.timeoutMs;
    let lastProblem = '';
    for (;;) {
      if (!this.running()) {
        const e = await this.exit;
        throw new Error(
          `${this.target} exited during start-up (code=${e.code} signal=${e.signal}); ${[cmd, ...args].join(' ')}\n--- output ---\n${this.out.slice(-8000)}`,
        );
      }
      try {
        const { status, challenge } = await probeStatus(`${this.url}/v2/`);
        // 401 with a Bearer challenge: up, with token auth (BERTH_AUTH=token).
        if (status === 200 || (status === 401 && challenge?.startsWith('Bearer '))) return;
        lastProblem = `GET /v2/ answered ${status}`;
      } catch (e) {
        lastProblem = `GET /v2/: ${(e as Error).message}`;
      }
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(
          `${this.target} not ready within ${this.timeoutMs} ms (${lastProblem}); ${[cmd, ...args].join(' ')}\n--- output ---\n${this.out.slice(-8000)}`,
        );
      }
      await sleep(100);
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<ExitInfo> {
    const child = this.child;
    const exit = this.exit;
    if (!child || !exit) return { code: null, signal: null, ms: 0 };
    const t0 = Date.now();
    if (this.running()) {
      child.kill(signal);
      const done = await settlesWithin(exit, timeoutMs);
      if (!done) {
        this.record(Buffer.from(`\n[berth-process] no exit ${timeoutMs} ms after ${signal}; sending SIGKILL\n`));
        child.kill('SIGKILL');
      }
    }
    const e = await exit;
    return { ...e, ms: Date.now() - t0 };
  }

  kill(): Promise<ExitInfo> {
    return this.stop('SIGKILL');
  }

  async restart(): Promise<void> {
    if (this.running()) await this.stop();
    await this.start();
  }

  /** `env` overrides some of this instance's settings in the replica (e.g. a rule it alone has). */
  async replica(env: Record<string, string> = {}): Promise<RegistryInstance> {
    if (this.target === 'berth' && !this.databaseUrl) {
      throw new Error('replicas need a shared external PostgreSQL: set DATABASE_URL');
    }
    const r = new Instance({
      target: this.target,
      port: await freePort(),
      dataDir: this.dataDir,
      db: this.dbName && this.databaseUrl ? { name: this.dbName, url: this.databaseUrl } : null,
      env: { ...this.extraEnv, ...env },
      timeoutMs: this.timeoutMs,
      owner: false,
      s3: this.s3,
    });
    await r.start();
    return r;
  }

  async destroy(): Promise<void> {
    if (this.running()) await this.stop('SIGTERM', 10_000);
    if (!this.owner) return;
    if (this.dbName) await dropDatabase(this.dbName);
    await this.s3?.stop().catch((e: unknown) => process.stderr.write(`[berth-process] could not stop s3rver: ${(e as Error).message}\n`));
    this.s3 = undefined;
    if (process.env.BERTH_E2E_KEEP !== '1') rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Status of a GET; over https the certificate is not checked (readiness only: tests check TLS themselves). */
function probeStatus(url: string): Promise<{ status: number; challenge: string | undefined }> {
  return new Promise((resolvePromise, reject) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const req = get(url, { timeout: 2000, rejectUnauthorized: false }, (res) => {
      res.resume();
      res.once('end', () => resolvePromise({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'] }));
    });
    req.once('timeout', () => req.destroy(new Error('no answer within 2000 ms')));
    req.once('error', reject);
  });
}

/** Starts a fresh registry (own port, data dir and database) and waits until GET /v2/ is 200. */
export async function startRegistry(opts: StartOptions = {}): Promise<RegistryInstance> {
  const target = opts.target ?? e2eTarget();
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), `berth-e2e-${target}-`));
  // As root, an embedded PostgreSQL runs as its own system user, which must be able to enter it.
  chmodSync(dataDir, 0o755);
  const db = target === 'berth' ? await createDatabase() : null;
  // The embedded PostgreSQL runs as its own system user when we are root: it must enter the data dir.
  if (target === 'berth' && !db) chmodSync(dataDir, 0o755);
  let s3: TestS3 | undefined;
  if (target === 'berth' && process.env.BERTH_TEST_STORAGE === 's3') {
    try {
      s3 = await startS3rver();
    } catch (e) {
      if (db) await dropDatabase(db.name);
      rmSync(dataDir, { recursive: true, force: true });
      throw e;
    }
  }
  const inst = new Instance({
    s3,
    target,
    port: await freePort(),
    dataDir,
    db,
    env: opts.env ?? {},
    timeoutMs: opts.timeoutMs ?? 30_000,
  });
  try {
    await inst.start();
  } catch (e) {
    await inst.destroy();
    throw e;
  }
  return inst;
}

// ---------------------------------------------------------------------------------------------
// Looking at the registry over plain HTTP (what any client would see).

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: Buffer;
  /** "HEAD /v2/…  → 404 {…}" for assertion messages */
  describe: string;
}

export async function registryRequest(
  reg: { url: string },
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<HttpAnswer> {
  const res = await fetch(reg.url + path, {
    method,
    headers: init.headers,
    body: typeof init.body === 'string' || init.body === undefined ? init.body : new Uint8Array(init.body),
    redirect: 'follow',
    signal: AbortSignal.timeout(60_000),
  });
  const body = Buffer.from(await res.arrayBuffer());
  const text = body.length > 2000 ? body.subarray(0, 2000).toString('utf8') + '…' : body.toString('utf8');
  return { status: res.status, headers: res.headers, body, describe: `${method} ${path} → ${res.status} ${text}` };
}

export function headManifest(reg: { url: string }, repo: string, ref: string): Promise<HttpAnswer> {
  return registryRequest(reg, 'HEAD', `/v2/${repo}/manifests/${ref}`, { headers: { Accept: MANIFEST_ACCEPT } });
}

export function getManifest(reg: { url: string }, repo: string, ref: string): Promise<HttpAnswer> {
  return registryRequest(reg, 'GET', `/v2/${repo}/manifests/${ref}`, { headers: { Accept: MANIFEST_ACCEPT } });
}

export function headBlob(reg: { url: string }, repo: string, digest: string): Promise<HttpAnswer> {
  return registryRequest(reg, 'HEAD', `/v2/${repo}/blobs/${digest}`);
}

export function getBlob(reg: { url: string }, repo: string, digest: string): Promise<HttpAnswer> {
  return registryRequest(reg, 'GET', `/v2/${repo}/blobs/${digest}`);
}

/** Tags of a repository, or null when the registry answers 404 (unknown repository). */
export async function listTags(reg: { url: string }, repo: string): Promise<string[] | null> {
  const a = await registryRequest(reg, 'GET', `/v2/${repo}/tags/list`);
  if (a.status === 404) return null;
  if (a.status !== 200) throw new Error(`unexpected answer: ${a.describe}`);
  const parsed = JSON.parse(a.body.toString('utf8')) as { tags?: string[] | null };
  return parsed.tags ?? [];
}
