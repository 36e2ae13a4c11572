// The commonest operational mistakes at start-up, each made for real against `berth serve` (or a
// server-side command) as a child process: exit non-zero with ONE line on stderr that names the
// setting, and no stack trace. And the server-side commands' guards: they never create a registry
// by accident, and refuse a blob store other than the one the registry was created with.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/berth-cli.js';
import pg from 'pg';
import { startRegistry } from '../helpers/berth-process.js';
import { freePort } from '../helpers/child-processes.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import type { RunResult } from '../helpers/system-tools.js';

/** Exit 1 and exactly one line on stderr matching `pattern`, without a stack trace. */
function assertOneLine(r: RunResult, pattern: RegExp): void {
  const detail = `exit ${r.code}\nstderr:\n${r.stderr}\nstdout:\n${r.stdout.slice(-2000)}`;
  assert.equal(r.code, 1, detail);
  // Node's own warnings (the AWS SDK's notice about Node 20) are not Berth's output.
  const own = r.stderr.replace(/^\(node:\d+\) [\s\S]*?\(Use `node --trace-warnings[^\n]*\n/m, '');
  const lines = own.trim().split('\n');
  assert.equal(lines.length, 1, detail);
  assert.match(lines[0]!, /^berth: /, detail);
  assert.match(lines[0]!, pattern, detail);
  assert.doesNotMatch(r.stderr, /^\s+at /m, detail);
  assert.doesNotMatch(r.stderr, /undefined/, detail);
}

/** Occupies a loopback port until closed. */
async function occupy(port: number): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

describe('start-up mistakes: one line naming the setting, exit 1', () => {
  let db: TestDatabase;
  let dir: string;
  const serve = (env: NodeJS.ProcessEnv) => runCli(['serve'], { LOG_LEVEL: 'warn', BERTH_DATA_DIR: path.join(dir, 'data'), ...env });
  before(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(path.join(tmpdir(), 'berth-startup-'));
  });
  after(async () => {
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('BERTH_ADDR already in use', async () => {
    const port = await freePort();
    const taken = await occupy(port);
    try {
      assertOneLine(await serve({ DATABASE_URL: db.url, BERTH_ADDR: `127.0.0.1:${port}` }), new RegExp(`BERTH_ADDR=127\\.0\\.0\\.1:${port}: the address is already in use`));
    } finally {
      taken.close();
    }
  });

  it('DATABASE_URL: nothing listening, wrong password, no such database, not a postgres URL', async () => {
    const port = await freePort();
    assertOneLine(await serve({ DATABASE_URL: `postgres://berth:berth@127.0.0.1:${port}/berth` }), /DATABASE_URL: nothing accepts connections at 127\.0\.0\.1:\d+\/berth \(ECONNREFUSED\)/);
    const wrongPassword = new URL(db.url);
    wrongPassword.password = 'not-the-password';
    const r = await serve({ DATABASE_URL: wrongPassword.toString() });
    assertOneLine(r, /DATABASE_URL: .*refused the password \(28P01\)/);
    assert.doesNotMatch(r.stderr, /not-the-password/, 'the password is not printed');
    const noDatabase = new URL(db.url);
    noDatabase.pathname = '/no_such_database_here';
    assertOneLine(await serve({ DATABASE_URL: noDatabase.toString() }), /DATABASE_URL: the database in .*no_such_database_here does not exist \(3D000\)/);
    assertOneLine(await serve({ DATABASE_URL: 'mysql://berth:berth@127.0.0.1:3306/berth' }), /DATABASE_URL must be a PostgreSQL URL .*got a mysql: URL/);
  });

  it('BERTH_TOKEN_KEY left as the deploy/kubernetes placeholder', async () => {
    const placeholder = '-----BEGIN PRIVATE KEY-----\nchange-me\n-----END PRIVATE KEY-----\n';
    assertOneLine(await serve({ DATABASE_URL: db.url, BERTH_AUTH: 'token', BERTH_TOKEN_KEY: placeholder }), /BERTH_TOKEN_KEY is not a readable PEM private key/);
  });

  it('a TLS file that does not exist, and a TLS file that is not PEM', async () => {
    const missing = path.join(dir, 'missing-cert.pem');
    assertOneLine(
      await serve({ DATABASE_URL: db.url, BERTH_TLS_CERT: missing, BERTH_TLS_KEY: missing }),
      new RegExp(`BERTH_TLS_CERT=${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} cannot be read \\(ENOENT\\)`),
    );
    const junk = path.join(dir, 'junk.pem');
    writeFileSync(junk, 'not a certificate');
    assertOneLine(await serve({ DATABASE_URL: db.url, BERTH_TLS_CERT: junk, BERTH_TLS_KEY: junk, BERTH_ADDR: `127.0.0.1:${await freePort()}` }), /BERTH_TLS_CERT\/BERTH_TLS_KEY are not a usable PEM certificate/);
  });

  /** `berth serve` on S3 at an endpoint where nothing listens, with its own fresh database (it records the store). */
  async function serveOnS3(env: NodeJS.ProcessEnv): Promise<RunResult> {
    const other = await createTestDatabase();
    try {
      const endpoint = `http://127.0.0.1:${await freePort()}`;
      return await serve({ DATABASE_URL: other.url, BERTH_STORAGE: 's3', BERTH_S3_BUCKET: 'berth-test', BERTH_S3_ENDPOINT: endpoint, BERTH_S3_FORCE_PATH_STYLE: 'true', ...env });
    } finally {
      await other.drop();
    }
  }

  it('BERTH_STORAGE=s3 without AWS credentials', async () => {
    const r = await serveOnS3({
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      AWS_SESSION_TOKEN: undefined,
      AWS_PROFILE: undefined,
      AWS_CONFIG_FILE: path.join(dir, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'no-aws-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONTAINER_CREDENTIALS_FULL_URI: undefined,
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: undefined,
      AWS_WEB_IDENTITY_TOKEN_FILE: undefined,
    });
    assertOneLine(r, /BERTH_STORAGE=s3 but no AWS credentials were found: set AWS_ACCESS_KEY_ID/);
  });

  it('BERTH_STORAGE=s3 with an endpoint where nothing listens', async () => {
    const r = await serveOnS3({ AWS_ACCESS_KEY_ID: 'test-key', AWS_SECRET_ACCESS_KEY: 'test-secret' });
    assertOneLine(r, /S3 endpoint unreachable while checking bucket "berth-test": \w+: check BERTH_S3_ENDPOINT/);
  });

  it('BERTH_METRICS_ADDR already in use', async () => {
    const port = await freePort();
    const taken = await occupy(port);
    try {
      assertOneLine(
        await serve({ DATABASE_URL: db.url, BERTH_ADDR: `127.0.0.1:${await freePort()}`, BERTH_METRICS_ADDR: `127.0.0.1:${port}` }),
        new RegExp(`BERTH_METRICS_ADDR=127\\.0\\.0\\.1:${port}: the address is already in use`),
      );
    } finally {
      taken.close();
    }
  });

  it('a BERTH_DATA_DIR that cannot be written', async () => {
    const file = path.join(dir, 'a-file');
    writeFileSync(file, '');
    assertOneLine(await runCli(['serve'], { LOG_LEVEL: 'warn', BERTH_DATA_DIR: path.join(file, 'data') }), /BERTH_DATA_DIR .*a-file\/data cannot be created or written \(a file is in the way\)/);
  });
});

describe('server-side commands never create a registry by accident', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-guard-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const args of [['user', 'ls'], ['gc'], ['fsck'], ['migrate'], ['robot', 'ls']]) {
    it(`berth ${args.join(' ')} without a data directory: a message naming BERTH_DATA_DIR, nothing created`, async () => {
      const dataDir = path.join(dir, `nothing-${args[0]}`);
      const r = await runCli(args, { LOG_LEVEL: 'warn', BERTH_DATA_DIR: dataDir, BERTH_AUTH: 'token' });
      assertOneLine(r, /no registry in BERTH_DATA_DIR=.*nothing-\w+ \(it has no postgres\/ database\)/);
      assert.ok(!existsSync(path.join(dataDir, 'postgres')), 'no database was created');
    });
  }

  it('against an empty external database: gc and user refuse naming DATABASE_URL; migrate prepares it', async () => {
    const empty = await createTestDatabase({ empty: true });
    try {
      const env = { LOG_LEVEL: 'warn', DATABASE_URL: empty.url, BERTH_DATA_DIR: path.join(dir, 'unused'), BERTH_AUTH: 'token' };
      assertOneLine(await runCli(['gc'], env), /DATABASE_URL names a database that holds no registry/);
      assertOneLine(await runCli(['user', 'add', 'alice'], env, 'alice-password\n'), /DATABASE_URL names a database that holds no registry/);
      const { rows } = await empty.pool.query("SELECT to_regclass('schema_migrations') AS t");
      assert.equal(rows[0].t, null, 'nothing was created in it');
      const migrate = await runCli(['migrate'], env);
      assert.equal(migrate.code, 0, migrate.stderr);
      assert.match(migrate.stdout, /applied: 0001_init\.sql, .*0008_blob_store_identity\.sql/);
    } finally {
      await empty.drop();
    }
  });

  it('refuse a blob store other than the one the registry was created with (server, gc, fsck)', { timeout: 180_000 }, async () => {
    // The first start records the store: fs in <data dir>/blobs (with an external database the path is named).
    const reg = await startRegistry();
    try {
      const settings = reg.settings();
      const client = new pg.Client(settings.DATABASE_URL);
      await client.connect();
      const { rows } = await client.query<{ identity: string }>('SELECT identity FROM registry_blob_store');
      await client.end();
      assert.equal(rows[0]?.identity, `fs in ${path.join(reg.dataDir, 'blobs')}`);
      const elsewhere = { ...settings, LOG_LEVEL: 'warn', BERTH_DATA_DIR: path.join(dir, 'elsewhere') };
      assertOneLine(await runCli(['fsck'], elsewhere), /this registry's blobs are in fs in \S+\/blobs, but the settings point at fs in \S+elsewhere\/blobs/);
      assertOneLine(await runCli(['gc'], elsewhere), /this registry's blobs are in fs in \S+\/blobs, but/);
      const s3 = { ...elsewhere, BERTH_STORAGE: 's3', BERTH_S3_BUCKET: 'other-bucket', BERTH_S3_ENDPOINT: `http://127.0.0.1:${await freePort()}` };
      assertOneLine(await runCli(['fsck'], s3), /but the settings point at s3 bucket other-bucket, prefix "", endpoint http:\/\/127\.0\.0\.1:\d+/);
      assertOneLine(await runCli(['serve'], { ...s3, BERTH_ADDR: `127.0.0.1:${await freePort()}` }), /this registry's blobs are in fs in .*: run with the server's BERTH_STORAGE/);
      const same = await runCli(['fsck'], { ...settings, LOG_LEVEL: 'warn' });
      assert.equal(same.code, 0, same.stderr);
      assert.ok(reg.running());
    } finally {
      await reg.destroy();
    }
  });
});
