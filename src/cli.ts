#!/usr/bin/env node
// The `berth` command: serve | migrate. Parsed with node:util's parseArgs (no dependency needed).
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.js';
import { openDatabase } from './deps.js';
import { MigrationError, migrate } from './db/migrate.js';
import { createLogger } from './logger.js';
import { serve } from './server.js';

const USAGE = `usage: berth <command>

commands:
  serve     start the registry (the default)
  migrate   apply database migrations and exit

Settings come from the environment (BERTH_ADDR, BERTH_DATA_DIR, DATABASE_URL, ...); see README.md.`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' } } });
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
    const known = err instanceof ConfigError || err instanceof MigrationError;
    console.error(`berth: ${known ? (err as Error).message : (err as Error)?.stack ?? String(err)}`);
    process.exit(1);
  },
);
