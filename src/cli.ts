#!/usr/bin/env node
// The `berth` command: serve | migrate | gc | fsck | user | robot | permission | key on the server
// side (the database and the blob store, with the server's settings); history | rollback | diff |
// du as a client of a running Berth over its /api/v1. Parsed with node:util's parseArgs.
import { parseArgs } from 'node:util';
import { AccountError } from './auth/accounts.js';
import { KeyConfigError } from './auth/keys.js';
import { ACCOUNT_USAGE, runAccountCommand } from './cli-accounts.js';
import { ApiClient, ApiError, RegistryUnreachableError } from './client/api-client.js';
import { diffCommand, historyCommand, rollbackCommand } from './client/commands.js';
import { UsageError } from './usage-error.js';
import { CredentialHelperError, resolveCredentials } from './client/credentials.js';
import { resolveRegistry } from './client/registry-address.js';
import { packageVersion } from './client/version.js';
import { ConfigError, loadConfig } from './config.js';
import { duCommand } from './client/usage-command.js';
import { openDatabaseForCli } from './deps.js';
import { MigrationError, migrate } from './db/migrate.js';
import { fsckText, gcText } from './gc/cli-output.js';
import { runGc } from './gc/collector.js';
import { fsck } from './gc/fsck.js';
import { gcOptions } from './gc/options.js';
import { createBlobStore } from './storage/create-blob-store.js';
import { createLogger } from './logger.js';
import { serve } from './server.js';
import { StartupError, unexpectedErrorText } from './startup-error.js';

const USAGE = `usage: berth <command> [options]
       berth --version

server commands (settings from the environment: BERTH_ADDR, BERTH_DATA_DIR, DATABASE_URL, ...; see README.md):
  serve                              start the registry (the default)
  migrate                            apply database migrations and exit
  gc [--dry-run]                     collect garbage now, while the server runs (BERTH_GC_GRACE,
                                     BERTH_UPLOAD_TTL, BERTH_HISTORY_*): untagged manifests nothing
                                     keeps, unreferenced blobs, stale uploads; prints what it removed
  fsck [--deep]                      check that the store holds every blob PostgreSQL knows, of the right
                                     size (--deep: and digest), and list objects PostgreSQL does not know;
                                     exits 1 when it finds a problem
${ACCOUNT_USAGE}

client commands (talk to a running Berth):
  history <name>:<tag>               a tag's history, newest first
      [--limit N]                    events to show (default 50)
  rollback <name>:<tag>              point the tag back at an earlier image
      [--to previous]                the digest before the latest change (the default)
      [--revision N]                 what revision N set the tag to
      [--digest D [--force]]         a digest the tag once had (--force: any manifest of the repository)
      [--at TIME]                    what the tag pointed at at TIME (2026-11-20T14:00:00Z)
      [--expect D|none]              refuse unless the tag points at D now (none: is deleted)
      [--reason R] [--dry-run]
  diff <name> <from> <to>            what changed between two images: tags (prod), digests (sha256:...)
                                     or tag revisions (prod@3)
  du [<name>...]                     logical size of repositories (unique blobs their manifests
                                     reference) and their quotas; all repositories without names

client options:
  --registry URL                     Berth's address (or BERTH_REGISTRY; otherwise the server's own
                                     BERTH_PUBLIC_URL or BERTH_ADDR; default http://127.0.0.1:5000)
  --username U --password P          credentials (or BERTH_USERNAME/BERTH_PASSWORD; otherwise what
                                     docker login stored for the host: ~/.docker/config.json or
                                     $DOCKER_CONFIG, credential helpers included)
  --json                             print the API's JSON instead of text`;

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  registry: { type: 'string' },
  username: { type: 'string', short: 'u' },
  password: { type: 'string', short: 'p' },
  json: { type: 'boolean' },
  limit: { type: 'string' },
  to: { type: 'string' },
  revision: { type: 'string' },
  digest: { type: 'string' },
  at: { type: 'string' },
  force: { type: 'boolean' },
  expect: { type: 'string' },
  reason: { type: 'string' },
  'dry-run': { type: 'boolean' },
  admin: { type: 'boolean' },
  allow: { type: 'string', multiple: true },
  expires: { type: 'string' },
  description: { type: 'string' },
  deep: { type: 'boolean' },
  address: { type: 'string' },
} as const;

async function client(values: { registry?: string | undefined; username?: string | undefined; password?: string | undefined }): Promise<ApiClient> {
  const { url, source } = resolveRegistry(values.registry);
  const credentials = await resolveCredentials(url.host, { username: values.username, password: values.password });
  return new ApiClient(url.origin + url.pathname.replace(/\/+$/, ''), credentials, 'berth-cli', source);
}

function positional(positionals: string[], index: number, what: string): string {
  const v = positionals[index];
  if (v === undefined) throw new UsageError(`missing ${what}`);
  return v;
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  const command = positionals[0] ?? 'serve';
  if (values.version) {
    console.log(`berth ${packageVersion()}`);
    return 0;
  }
  if (values.help || command === 'help') {
    console.log(USAGE);
    return 0;
  }
  switch (command) {
    case 'history': {
      const limit = values.limit === undefined ? 50 : Number(values.limit);
      if (!Number.isSafeInteger(limit) || limit < 1) throw new UsageError(`--limit takes a positive number, got "${values.limit}"`);
      console.log(await historyCommand(await client(values), positional(positionals, 1, '<name>:<tag>'), { limit, json: values.json ?? false }));
      return 0;
    }
    case 'rollback':
      console.log(
        await rollbackCommand(await client(values), positional(positionals, 1, '<name>:<tag>'), {
          to: values.to,
          revision: values.revision,
          digest: values.digest,
          at: values.at,
          force: values.force ?? false,
          expect: values.expect,
          reason: values.reason,
          dryRun: values['dry-run'] ?? false,
          json: values.json ?? false,
        }),
      );
      return 0;
    case 'diff':
      console.log(
        await diffCommand(
          await client(values),
          positional(positionals, 1, '<name>'),
          positional(positionals, 2, '<from>'),
          positional(positionals, 3, '<to>'),
          { json: values.json ?? false },
        ),
      );
      return 0;
    case 'du':
      console.log(await duCommand(await client(values), positionals.slice(1), { json: values.json ?? false }));
      return 0;
  }
  const config = loadConfig();
  switch (command) {
    case 'serve':
      await serve(config);
      return -1;
    case 'migrate': {
      const logger = createLogger(config.logLevel);
      const db = await openDatabaseForCli(config, logger, { allowEmpty: true });
      try {
        const applied = await migrate(db.pool);
        console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
      } finally {
        await db.close();
      }
      return 0;
    }
    case 'user':
    case 'robot':
    case 'permission':
    case 'key':
      return runAccountCommand(config, positionals, values);
    case 'gc':
    case 'fsck': {
      // Logs go to stderr: stdout is the report.
      const logger = createLogger(config.logLevel, { cli: true });
      const db = await openDatabaseForCli(config, logger, { checkStore: true });
      try {
        await migrate(db.pool);
        const store = await createBlobStore(config.storage);
        if (command === 'gc') {
          const result = await runGc(db.pool, store, { ...gcOptions(config), dryRun: values['dry-run'] ?? false, logger });
          console.log(values.json ? JSON.stringify(result, null, 2) : gcText(result));
          return 0;
        }
        const report = await fsck(db.pool, store, { deep: values.deep ?? false });
        console.log(values.json ? JSON.stringify(report, null, 2) : fsckText(report));
        return report.problems.length === 0 ? 0 : 1;
      } finally {
        await db.close();
      }
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
    if (err instanceof UsageError || (err as { code?: string })?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (err as { code?: string })?.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      console.error(`berth: ${(err as Error).message}\n\nrun "berth help" for usage`);
      process.exit(2);
    }
    if (err instanceof ApiError) {
      console.error(`berth: ${err.code}: ${err.message}`);
      process.exit(1);
    }
    if (err instanceof RegistryUnreachableError || err instanceof CredentialHelperError) {
      console.error(`berth: ${err.message}`);
      process.exit(1);
    }
    const known = err instanceof ConfigError || err instanceof MigrationError || err instanceof AccountError || err instanceof KeyConfigError || err instanceof StartupError;
    console.error(`berth: ${unexpectedErrorText(err, known)}`);
    process.exit(1);
  },
);
