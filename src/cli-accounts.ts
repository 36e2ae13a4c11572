// `berth user|robot|permission|key …`: account management against the database directly, with the
// same settings as the server. While a server runs on the embedded PostgreSQL, the CLI connects to
// that one rather than starting a second.
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { AccountService, type AccountInfo, type Grant } from './auth/accounts.js';
import { SigningKeys } from './auth/keys.js';
import { UsageError } from './usage-error.js';
import { parseDuration, type Config } from './config.js';
import { migrate } from './db/migrate.js';
import { openDatabaseForCli } from './deps.js';
import { createLogger } from './logger.js';

export const ACCOUNT_USAGE = `  user add <name> [--admin] [--allow <pattern>:<actions>]...   create a user (password read from stdin)
  user passwd <name>                  set a user's password (read from stdin)
  user rm <name>                      delete a user
  user ls [--json]                    list users
  user unlock [<name>] [--address <ip>]   lift the failed-login lockout of an account and/or a
                                      client address, on every running replica
  robot create <name> [--expires <90m|24h|30d>] [--description <text>] [--allow <pattern>:<actions>]...
                                      create a robot account and print its secret (shown once)
  robot rm <name>                     delete a robot account
  robot ls [--json]                   list robot accounts
  permission grant <account|anonymous> <pattern> <actions>   e.g. grant ci 'team/*' pull,push
  permission revoke <account|anonymous> <pattern>
  permission ls [--json]              list permissions
  key rotate                          new token signing key; tokens already issued stay valid`;

export interface AccountCommandOptions {
  admin?: boolean | undefined;
  allow?: string[] | undefined;
  expires?: string | undefined;
  description?: string | undefined;
  json?: boolean | undefined;
  address?: string | undefined;
}

/** `<pattern>:<actions>`, split at the last colon (patterns never contain one). */
function parseAllow(value: string): Grant {
  const colon = value.lastIndexOf(':');
  if (colon <= 0) throw new UsageError(`--allow ${value}: expected <pattern>:<actions>, e.g. 'team/*:pull,push'`);
  return { pattern: value.slice(0, colon), actions: value.slice(colon + 1).split(',') };
}

/** A password from stdin: typed at a prompt (not echoed) or piped (first line). */
async function readPassword(prompt: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY });
  if (process.stdin.isTTY) {
    process.stderr.write(prompt);
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {};
  }
  try {
    for await (const line of rl) return line;
    throw new UsageError('no password on stdin');
  } finally {
    rl.close();
    if (process.stdin.isTTY) process.stderr.write('\n');
  }
}

function printAccounts(accounts: AccountInfo[], json: boolean | undefined): void {
  if (json) return console.log(JSON.stringify(accounts, null, 2));
  for (const a of accounts) {
    const extra = [a.admin ? 'admin' : '', a.expiresAt ? `expires ${a.expiresAt}` : '', a.description ?? ''].filter(Boolean).join('  ');
    console.log(`${a.name}\t${a.createdAt}${extra ? `\t${extra}` : ''}`);
  }
}

const need = (value: string | undefined, what: string): string => {
  if (!value) throw new UsageError(`missing ${what}`);
  return value;
};

export async function runAccountCommand(config: Config, args: string[], options: AccountCommandOptions): Promise<number> {
  const [group, action, ...rest] = args;
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, pino.destination({ dest: 2, sync: true }));
  const { pool, close } = await openDatabaseForCli(config, logger);
  try {
    await migrate(pool);
    const accounts = new AccountService(pool);
    const command = `${group} ${action ?? ''}`.trim();
    switch (command) {
      case 'user add': {
        const name = need(rest[0], 'user name');
        const grants = (options.allow ?? []).map(parseAllow);
        const user = await accounts.addUser(name, await readPassword(`password for ${name}: `), options.admin ?? false);
        for (const grant of grants) await accounts.grant(name, grant);
        console.log(`created user ${user.name}${user.admin ? ' (admin)' : ''}`);
        return 0;
      }
      case 'user passwd': {
        const name = need(rest[0], 'user name');
        await accounts.setPassword(name, await readPassword(`new password for ${name}: `));
        console.log(`password of ${name} changed; its refresh tokens no longer work`);
        return 0;
      }
      case 'user rm':
      case 'robot rm': {
        const name = need(rest[0], `${group} name`);
        await accounts.remove(name, group === 'user' ? 'user' : 'robot');
        console.log(`deleted ${group} ${name}`);
        return 0;
      }
      case 'user unlock': {
        const account = rest[0];
        if (account === undefined && options.address === undefined) throw new UsageError('user unlock needs an account name, --address <ip>, or both');
        await accounts.clearLockout({ account, address: options.address });
        console.log(`lifted the login lockout of ${[account, options.address].filter(Boolean).join(' and ')}; every replica lets them try again`);
        return 0;
      }
      case 'user ls':
        printAccounts(await accounts.list('user'), options.json);
        return 0;
      case 'robot ls':
        printAccounts(await accounts.list('robot'), options.json);
        return 0;
      case 'robot create': {
        const name = need(rest[0], 'robot name');
        let expiresAt: Date | undefined;
        if (options.expires !== undefined) {
          const ms = parseDuration(options.expires);
          if (!ms) throw new UsageError(`--expires ${options.expires}: expected a duration like 90m, 24h or 30d`);
          expiresAt = new Date(Date.now() + ms);
        }
        const { robot, secret } = await accounts.addRobot(name, { description: options.description, expiresAt, grants: (options.allow ?? []).map(parseAllow) });
        if (options.json) console.log(JSON.stringify({ ...robot, secret }, null, 2));
        else console.log(`created robot ${robot.name}${robot.expiresAt ? `, expires ${robot.expiresAt}` : ''}\nsecret (shown once): ${secret}`);
        return 0;
      }
      case 'permission grant': {
        const account = need(rest[0], 'account (or anonymous)');
        const row = await accounts.grant(account === 'anonymous' ? null : account, {
          pattern: need(rest[1], 'repository pattern'),
          actions: need(rest[2], 'actions').split(','),
        });
        console.log(`${row.account ?? 'anonymous'} may ${row.actions.join(',')} on ${row.pattern}`);
        return 0;
      }
      case 'permission revoke': {
        const account = need(rest[0], 'account (or anonymous)');
        const pattern = need(rest[1], 'repository pattern');
        if (!(await accounts.revokeFor(account === 'anonymous' ? null : account, pattern))) {
          console.error(`berth: no permission of ${account} on ${pattern}`);
          return 1;
        }
        console.log(`revoked ${account} on ${pattern}`);
        return 0;
      }
      case 'permission ls': {
        const rows = await accounts.listGrants();
        if (options.json) console.log(JSON.stringify(rows, null, 2));
        else for (const r of rows) console.log(`${r.account ?? 'anonymous'}\t${r.pattern}\t${r.actions.join(',')}`);
        return 0;
      }
      case 'key rotate': {
        if (!config.tokenAuth) throw new UsageError('key rotate needs BERTH_AUTH=token (and its settings)');
        const { algorithm, privateKeyPem, accessTtlS, refreshTtlS } = config.tokenAuth;
        const keys = new SigningKeys(pool, { algorithm, privateKeyPem, graceMs: (Math.max(accessTtlS, refreshTtlS) + 60) * 1000 });
        console.log(`new signing key ${await keys.rotate()}; the previous one stays valid until its tokens expire`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command: ${args.join(' ')}`);
    }
  } finally {
    await close();
  }
}
