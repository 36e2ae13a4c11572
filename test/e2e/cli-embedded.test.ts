// `berth user …` while a server runs on the embedded PostgreSQL (no DATABASE_URL): the CLI must
// connect to the server's PostgreSQL instead of starting a second one on the same data directory,
// and must leave it running when it exits.
//
// Run: node --import tsx --test test/e2e/cli-embedded.test.ts
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startRegistry, type RegistryInstance } from '../helpers/berth-process.js';
import { describeRun } from '../helpers/system-tools.js';
import { berthCli } from '../helpers/berth-cli.js';

describe('berth user/robot CLI next to a running server on the embedded PostgreSQL', { skip: process.env.BERTH_E2E_TARGET === 'distribution' ? 'Berth only' : false }, () => {
  let reg: RegistryInstance;
  before(async () => {
    const databaseUrl = process.env.DATABASE_URL;
    // startRegistry gives the server its own database on DATABASE_URL when set; this test wants the embedded one.
    delete process.env.DATABASE_URL;
    try {
      reg = await startRegistry({ env: { BERTH_AUTH: 'token' }, timeoutMs: 90_000 });
    } finally {
      if (databaseUrl !== undefined) process.env.DATABASE_URL = databaseUrl;
    }
    assert.equal(reg.databaseUrl, undefined);
  });
  after(() => reg?.destroy());

  const token = (user: string, password: string) =>
    fetch(`${reg.url}/token?scope=repository:team/app:pull`, { headers: { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } });

  it('adds, lists and removes users and robots while the server keeps answering', { timeout: 120_000 }, async () => {
    const add = await berthCli(reg, ['user', 'add', 'ops', '--allow', 'team/*:pull'], 'ops-password-1\n');
    assert.equal(add.code, 0, `${describeRun(add)}\n${reg.output().slice(-3000)}`);
    assert.match(add.stdout, /created user ops/);
    const res = await token('ops', 'ops-password-1');
    assert.equal(res.status, 200, await res.text());

    const ls = await berthCli(reg, ['user', 'ls', '--json']);
    assert.equal(ls.code, 0, describeRun(ls));
    assert.deepEqual((JSON.parse(ls.stdout) as { name: string }[]).map((u) => u.name), ['ops']);

    const passwd = await berthCli(reg, ['user', 'passwd', 'ops'], 'ops-password-2\n');
    assert.equal(passwd.code, 0, describeRun(passwd));
    assert.equal((await token('ops', 'ops-password-1')).status, 401);
    assert.equal((await token('ops', 'ops-password-2')).status, 200);

    const robot = await berthCli(reg, ['robot', 'create', 'builder']);
    assert.equal(robot.code, 0, describeRun(robot));
    const secret = /secret \(shown once\): (\S+)/.exec(robot.stdout)?.[1];
    assert.ok(secret, robot.stdout);
    assert.equal((await token('builder', secret)).status, 200);
    const robots = await berthCli(reg, ['robot', 'ls']);
    assert.match(robots.stdout, /^builder\t/m);

    assert.equal((await berthCli(reg, ['robot', 'rm', 'builder'])).code, 0);
    assert.equal((await token('builder', secret)).status, 401);
    assert.equal((await berthCli(reg, ['user', 'rm', 'ops'])).code, 0);
    assert.ok(reg.running(), 'the server is still running');
    assert.equal((await fetch(`${reg.url}/v2/`)).status, 401, 'and still answers, on its PostgreSQL');
  });

  it('refuses bad input with a message and exit code 1 (2 for a usage error such as an unknown flag)', { timeout: 60_000 }, async () => {
    const short = await berthCli(reg, ['user', 'add', 'tiny'], 'short\n');
    assert.equal(short.code, 1, describeRun(short));
    assert.match(short.stderr, /password must be 8/);
    const dup = await berthCli(reg, ['robot', 'create', 'x1', '--allow', 'Bad/*:pull']);
    assert.equal(dup.code, 1, describeRun(dup));
    assert.match(dup.stderr, /not a repository name/);
    const unknown = await berthCli(reg, ['user', 'rm', 'nobody']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no user "nobody"/);
    const flag = await berthCli(reg, ['user', 'ls', '--bogus']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /bogus/);
  });
});
