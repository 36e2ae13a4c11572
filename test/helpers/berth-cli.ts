// Running the `berth` CLI (src/cli.ts under tsx) as an operator would, as a child process.
import { join } from 'node:path';
import { REPO_ROOT, type RegistryInstance } from './berth-process.js';
import { run, type RunResult } from './system-tools.js';

/**
 * Runs `berth <args>` with the test process's environment less what must not leak into it (the
 * test runner's flags, a DATABASE_URL or credentials of the caller's), no docker credentials, and
 * `env` on top. Variables set to undefined in `env` are removed.
 */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, input = ''): Promise<RunResult> {
  const { NODE_TEST_CONTEXT: _t, NODE_OPTIONS: _o, DATABASE_URL: _d, BERTH_USERNAME: _u, BERTH_PASSWORD: _p, ...inherited } = process.env;
  const merged: NodeJS.ProcessEnv = { ...inherited, DOCKER_CONFIG: '/nonexistent', ...env };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  return run(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli.ts'), ...args], { env: merged, input, timeoutMs: 120_000, cwd: REPO_ROOT });
}

/** The CLI against a test registry's database, data dir and blob store (BERTH_AUTH=token), as the operator. */
export function berthCli(reg: RegistryInstance, args: string[], input = ''): Promise<RunResult> {
  // On S3 (BERTH_TEST_STORAGE=s3) the commands must name the registry's bucket, or they refuse.
  const storage = Object.fromEntries(Object.entries(reg.settings()).filter(([k]) => /^(BERTH_STORAGE$|BERTH_S3_|AWS_)/.test(k)));
  return runCli(args, { ...storage, BERTH_DATA_DIR: reg.dataDir, BERTH_AUTH: 'token', LOG_LEVEL: 'warn', DATABASE_URL: reg.databaseUrl, DOCKER_CONFIG: process.env.DOCKER_CONFIG }, input);
}
