#!/usr/bin/env node
// The `berth` command: serve | migrate | user | robot | permission | key. Parsed with node:util's
// parseArgs (no dependency needed).
import { parseArgs } from 'node:util';
import { ACCOUNT_USAGE, runAccountCommand, UsageError } from './cli-accounts.js';
import { KeyConfigError } from './auth/keys.js';
import { ConfigError, loadConfig } from './config.js';
import { openDatabase } from './deps.js';
import { MigrationError, migrate } from './db/migrate.js';
import { createLogger } from './logger.js';
import { serve } from './server.js';

const USAGE = `usage: berth <command>

commands:
  serve     start the registry (the default)
  migrate   apply database migrations and exit
${ACCOUNT_USAGE}

Settings come from the environment (BERTH_ADDR, BERTH_DATA_DIR, DATABASE_URL, ...); see README.md.`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      admin: { type: 'boolean' },
      allow: { type: 'string', multiple: true },
      expires: { type: 'string' },
      description: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const command = positionals[0] ?? 'serve';
  if (values.help || command === 'help') {
    console.log(USAGE);
    return 0;
  }
  const config = loadConfig();
  switch (command) {
    case 'serve':
      await serve(config);
      return -1;
    case 'migrate': {
      const logger = createLogger(config.logLevel);
      const { pool, embedded } = await openDatabase(config, logger);
      try {
        const applied = await migrate(pool);
        console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
      } finally {
        await pool.end();
        await embedded?.stop();
      }
      return 0;
    }
    case 'user':
    case 'robot':
    case 'permission':
    case 'key':
      return runAccountCommand(config, positionals, values);
    default:
      console.error(`unknown command: ${command}\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    const known = err instanceof ConfigError || err instanceof MigrationError || err instanceof UsageError || err instanceof KeyConfigError ||
      String((err as { code?: unknown })?.code).startsWith('ERR_PARSE_ARGS');
    console.error(`berth: ${known ? (err as Error).message : (err as Error)?.stack ?? String(err)}`);
    process.exit(1);
  },
);
