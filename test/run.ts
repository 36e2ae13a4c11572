// Test orchestrator: one real PostgreSQL (started the way Berth starts its embedded one) for the
// whole run, a template database with the real migrations applied, then node's test runner over
// every test file listed explicitly (node 20 finds no .ts files by itself and would pass on zero).
// Two passes over the same PostgreSQL: every file on the fs blob store, then the integration and
// end-to-end files again with BERTH_TEST_STORAGE=s3 (the S3 driver, on s3rver servers the tests
// start). A BERTH_TEST_STORAGE set by the caller runs one pass, on that storage. A file that ran no
// test (or, with CI=true, only skipped ones) fails its pass: see file-outcomes.ts.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';
import { outcomeProblems } from './file-outcomes.js';
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

const S3_PASS_DIRS = [path.join('test', 'integration') + path.sep, path.join('test', 'e2e') + path.sep];

const OUTCOMES_REPORTER = fileURLToPath(new URL('./reporters/outcomes.mjs', import.meta.url));

/** Runs the files: spec to the terminal, and each test's file and outcome to `outcomesPath`. */
async function runTests(files: string[], outcomesPath: string, env: NodeJS.ProcessEnv): Promise<number> {
  const concurrency = process.env.BERTH_TEST_CONCURRENCY ?? '2';
  const reporters = ['--test-reporter=spec', '--test-reporter-destination=stdout', `--test-reporter=${OUTCOMES_REPORTER}`, `--test-reporter-destination=${outcomesPath}`];
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...reporters, ...files], {
    stdio: 'inherit',
    env,
  });
  return await new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

async function main(): Promise<number> {
  const filters = process.argv.slice(2);
  const files = (await findTests('test')).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
  if (files.length === 0) {
    console.error('no test files matched');
    return 1;
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-test-pg-'));
  // As root this runs in a user namespace on root's files, like Berth: a 0700 checkout works too.
  const port = 15432 + Math.floor(Math.random() * 1000);
  const server = await startEmbeddedPostgres(dir, { tcpPort: port, settings: { fsync: 'off', max_connections: '300' } });
  const outcomesDir = await mkdtemp(path.join(tmpdir(), 'berth-test-outcomes-'));
  try {
    const adminUrl = `postgres://berth:berth@127.0.0.1:${port}/postgres`;
    const admin = new pg.Client(adminUrl);
    await admin.connect();
    await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
    await admin.end();
    const templatePool = new pg.Pool({ connectionString: `postgres://berth:berth@127.0.0.1:${port}/${TEMPLATE_DATABASE}` });
    await migrate(templatePool);
    await templatePool.end();

    const passes: { storage: string; files: string[] }[] = [];
    const chosen = process.env.BERTH_TEST_STORAGE;
    if (chosen) passes.push({ storage: chosen, files });
    else {
      passes.push({ storage: 'fs', files });
      // s3.test.ts runs the S3 driver itself (in the fs pass); unit and contract tests touch no store;
      // image.test.ts builds and runs the container image, which no storage driver changes;
      // startup-errors and embedded-postgres make their own settings.
      const fsOnly = [`${path.sep}s3.test.ts`, `${path.sep}image.test.ts`, `${path.sep}startup-errors.test.ts`, `${path.sep}embedded-postgres.test.ts`];
      const s3Files = files.filter((f) => S3_PASS_DIRS.some((d) => f.startsWith(d)) && !fsOnly.some((name) => f.endsWith(name)));
      if (s3Files.length > 0) passes.push({ storage: 's3', files: s3Files });
    }
    const results: string[] = [];
    let failed = false;
    for (const pass of passes) {
      console.log(`\n======== storage: ${pass.storage} (${pass.files.length} test files) ========\n`);
      const t0 = Date.now();
      const outcomesPath = path.join(outcomesDir, `${pass.storage}.jsonl`);
      const code = await runTests(pass.files, outcomesPath, { ...process.env, DATABASE_URL: adminUrl, BERTH_TEST_STORAGE: pass.storage });
      const problems = await outcomeProblems(pass.files, outcomesPath, process.env.CI === 'true');
      if (problems.length > 0) console.error(`\nstorage: ${pass.storage}: FAILED: ${problems.length} file(s) tested nothing:\n  ${problems.join('\n  ')}`);
      failed ||= code !== 0 || problems.length > 0;
      const why = [...(code !== 0 ? [`exit ${code}`] : []), ...(problems.length > 0 ? [`${problems.length} file(s) tested nothing`] : [])];
      const verdict = why.length === 0 ? 'passed' : `FAILED (${why.join(', ')})`;
      results.push(`storage: ${pass.storage}: ${verdict} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    if (passes.length > 1) console.log(`\n${results.join('\n')}`);
    return failed ? 1 : 0;
  } finally {
    await server.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
    await rm(outcomesDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
