// Running the `berth` CLI against a test registry's database and data dir, as an operator would.
import { join } from 'node:path';
import { REPO_ROOT, type RegistryInstance } from './berth-process.js';
import { run, type RunResult } from './system-tools.js';

export async function berthCli(reg: RegistryInstance, args: string[], input = ''): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, BERTH_DATA_DIR: reg.dataDir, BERTH_AUTH: 'token', LOG_LEVEL: 'warn' };
  if (reg.databaseUrl) env.DATABASE_URL = reg.databaseUrl;
  else delete env.DATABASE_URL;
  // the test runner's own flags must not leak into the CLI
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  return run(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli.ts'), ...args], { env, input, timeoutMs: 60_000 });
}
