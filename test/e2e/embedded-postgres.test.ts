// The embedded PostgreSQL's lifecycle, with Berth run like `npm start` in a terminal: its own
// process group, to which Ctrl-C sends SIGINT (the whole group gets it, as from a terminal).
// - a first start that fails half-way (BERTH_EMBEDDED_PG_PORT taken after initdb, over the debris of
//   a killed initdb) says so in one line, and the next start (no port: the socket is enough)
//   completes the registry; a second Berth runs side by side, its socket under /tmp when the
//   data directory's path is too long, and its CLI finds it;
// - SIGINT to the group during a push: the push completes, Berth exits 0, PostgreSQL stops after
//   Berth and not before (it is not in the terminal's group), and the blob is there after restart;
// - as root, `npm start` from a copy of the checkout in a fresh 0700 directory serves a push and
//   pull, and `npm test` there starts its PostgreSQL;
// - where user namespaces are unavailable, the "postgres" system user fallback, or one line saying
//   what it cannot reach.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, writeFileSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import supertest from 'supertest';
import { socketDirFor } from '../../src/db/embedded.js';
import { REPO_ROOT } from '../helpers/berth-process.js';
import { runCli } from '../helpers/berth-cli.js';
import { freePort, isAlive, killOnExit } from '../helpers/child-processes.js';
import { OCI_MANIFEST, pushImage } from '../helpers/oci.js';

interface Terminal {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A command in a process group of its own, as a shell runs a foreground job. */
function inTerminal(cmd: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Terminal {
  const { NODE_TEST_CONTEXT: _t, NODE_OPTIONS: _o, DATABASE_URL: _d, ...inherited } = process.env;
  const child = spawn(cmd, args, { cwd: options.cwd, env: { ...inherited, ...options.env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  let text = '';
  child.stdout!.on('data', (b: Buffer) => (text += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (text += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, output: () => text, exited };
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, term: Terminal, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    if (term.child.exitCode !== null) throw new Error(`exited before ${what}:\n${term.output().slice(-3000)}`);
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}:\n${term.output().slice(-3000)}`);
}

const answers = (url: string) => async () => (await fetch(`${url}/v2/`).catch(() => undefined))?.status === 200;

function postmasterPid(dataDir: string): number {
  return Number(readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** Stops a terminal's job with SIGTERM to its group and waits. */
async function stopJob(term: Terminal): Promise<void> {
  if (term.child.exitCode !== null || term.child.signalCode !== null) return;
  process.kill(-term.child.pid!, 'SIGTERM');
  await term.exited;
}

describe('the embedded PostgreSQL: half-failed first start, Ctrl-C during a push', () => {
  let dir: string;
  let dataDir: string;
  let term: Terminal | undefined;
  let url = '';
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-embedded-'));
    dataDir = path.join(dir, 'data');
  });
  after(async () => {
    if (term) await stopJob(term);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a first start whose BERTH_EMBEDDED_PG_PORT is taken names it in one line; the next start completes the registry', { timeout: 240_000 }, async () => {
    // Debris of a first start killed during initdb: a half-built cluster (the old in-place kind) and a side directory.
    mkdirSync(path.join(dataDir, 'postgres'), { recursive: true });
    writeFileSync(path.join(dataDir, 'postgres', 'postgresql.conf'), '# half-written\n');
    mkdirSync(path.join(dataDir, 'postgres.initdb'));
    writeFileSync(path.join(dataDir, 'postgres.initdb', 'PG_VERSION'), '17\n');
    const port = await freePort();
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
    try {
      const r = await runCli(['serve'], { LOG_LEVEL: 'warn', BERTH_DATA_DIR: dataDir, BERTH_ADDR: `127.0.0.1:${await freePort()}`, BERTH_EMBEDDED_PG_PORT: String(port) });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^berth: BERTH_EMBEDDED_PG_PORT=${port}: the port is already in use; choose a free port, or unset BERTH_EMBEDDED_PG_PORT`));
    } finally {
      taken.close();
    }
    // initdb ran, the database was never created: the next start (socket only) finishes the job.
    const addr = `127.0.0.1:${await freePort()}`;
    url = `http://${addr}`;
    term = inTerminal(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src', 'cli.ts'), 'serve'], {
      cwd: REPO_ROOT,
      env: { BERTH_DATA_DIR: dataDir, BERTH_ADDR: addr, LOG_LEVEL: 'info', BERTH_SHUTDOWN_TIMEOUT: '60s' },
    });
    await waitFor('the registry to answer', answers(`http://${addr}`), term);
    await pushImage(supertest.agent(`http://${addr}`), 'embedded/app', 'v1');
    const ls = await runCli(['user', 'ls'], { LOG_LEVEL: 'warn', BERTH_DATA_DIR: dataDir });
    assert.equal(ls.code, 0, ls.stderr);
  });

  it('side by side: a second Berth whose data directory path is too long for a socket puts it under /tmp; its CLI finds it', { timeout: 240_000 }, async () => {
    const longDataDir = path.join(dir, 'l'.repeat(60), 'n'.repeat(40), 'data');
    const addr = `127.0.0.1:${await freePort()}`;
    const second = inTerminal(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src', 'cli.ts'), 'serve'], {
      cwd: REPO_ROOT,
      env: { BERTH_DATA_DIR: longDataDir, BERTH_ADDR: addr, LOG_LEVEL: 'warn' },
    });
    try {
      await waitFor('the second registry to answer', answers(`http://${addr}`), second);
      assert.ok(await answers(url)(), 'the first one still answers');
      const socketDir = socketDirFor(path.join(longDataDir, 'postgres'), 5432);
      assert.match(socketDir, /\/berth-pg-[0-9a-f]{16}$/);
      assert.ok(existsSync(path.join(socketDir, '.s.PGSQL.5432')), 'the socket is in the short directory');
      const ls = await runCli(['user', 'ls', '--json'], { LOG_LEVEL: 'warn', BERTH_DATA_DIR: longDataDir });
      assert.equal(ls.code, 0, ls.stderr);
      assert.deepEqual(JSON.parse(ls.stdout), []);
    } finally {
      await stopJob(second);
    }
    assert.deepEqual(await second.exited, { code: 0, signal: null }, second.output().slice(-3000));
    assert.ok(!existsSync(socketDirFor(path.join(longDataDir, 'postgres'), 5432)), 'the /tmp socket directory is removed at stop');
  });

  it('SIGINT to the process group during a push: the push completes, exit 0, PostgreSQL stops after Berth', { timeout: 240_000 }, async () => {
    assert.ok(term, 'the previous test started the server');
    const pgPid = postmasterPid(dataDir);
    assert.ok(isAlive(pgPid));
    const blob = randomBytes(4 * 1024 * 1024);
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const response = new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(`${url}/v2/embedded/app/blobs/uploads/?digest=${digest}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.length) },
      });
      req.on('response', resolve);
      req.on('error', reject);
      req.write(blob.subarray(0, blob.length / 2));
      void (async () => {
        // Ctrl-C while the body is half sent: the terminal signals the whole foreground group.
        await sleep(300);
        process.kill(-term!.child.pid!, 'SIGINT');
        await waitFor('the shutdown to start', () => term!.output().includes('shutting down'), term!, 30_000);
        assert.ok(isAlive(pgPid), 'PostgreSQL still runs while Berth drains');
        req.end(blob.subarray(blob.length / 2));
      })().catch(reject);
    });
    const res = await response;
    res.resume();
    assert.equal(res.statusCode, 201, term.output().slice(-3000));
    assert.equal(res.headers['docker-content-digest'], digest);
    const exit = await term.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, term.output().slice(-3000));
    for (let i = 0; i < 600 && isAlive(pgPid); i++) await sleep(100);
    assert.ok(!isAlive(pgPid), 'PostgreSQL stopped with Berth');
    assert.doesNotMatch(term.output(), /second signal/, 'one Ctrl-C is not taken for two');

    // Nothing was lost: the blob and the earlier image are there after a restart.
    const addr = `127.0.0.1:${await freePort()}`;
    term = inTerminal(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src', 'cli.ts'), 'serve'], { cwd: REPO_ROOT, env: { BERTH_DATA_DIR: dataDir, BERTH_ADDR: addr, LOG_LEVEL: 'warn' } });
    await waitFor('the restarted registry to answer', answers(`http://${addr}`), term);
    const head = await fetch(`http://${addr}/v2/embedded/app/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    const manifest = await fetch(`http://${addr}/v2/embedded/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(manifest.status, 200);
    await stopJob(term);
  });
});

describe('as root, `npm start` from a copy of the checkout in a fresh 0700 directory', () => {
  it('serves a push and pull, with its data in ./data and nothing loosened', { timeout: 600_000 }, async (t) => {
    if (process.getuid?.() !== 0) {
      // Not a missing tool: the case exists only for root (CI runs as root).
      t.skip('runs as root only (the 0700 checkout problem is root-only)');
      return;
    }
    const home = mkdtempSync(path.join(tmpdir(), 'berth-root-'));
    chmodSync(home, 0o700);
    const checkout = path.join(home, 'berth');
    let term: Terminal | undefined;
    try {
      // The checkout without build output; node_modules as hard links (the same files, inside the 0700 directory).
      cpSync(REPO_ROOT, checkout, {
        recursive: true,
        filter: (src) => !/^(node_modules|dist|data|\.git)$/.test(path.relative(REPO_ROOT, src).split(path.sep)[0] ?? '') || src === REPO_ROOT,
      });
      const link = spawn('cp', ['-al', path.join(REPO_ROOT, 'node_modules'), path.join(checkout, 'node_modules')], { stdio: 'ignore' });
      assert.equal(await new Promise((resolve) => link.on('exit', resolve)), 0, 'cp -al node_modules');
      const addr = `127.0.0.1:${await freePort()}`;
      term = inTerminal('npm', ['start'], { cwd: checkout, env: { BERTH_ADDR: addr, LOG_LEVEL: 'info' } });
      await waitFor('npm start to answer', answers(`http://${addr}`), term, 480_000);
      const agent = supertest.agent(`http://${addr}`);
      const image = await pushImage(agent, 'root/app', 'v1');
      const got = await agent.get('/v2/root/app/manifests/v1').set('Accept', OCI_MANIFEST).buffer(true).parse((res, done) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done(null, Buffer.concat(chunks)));
      });
      assert.equal(got.status, 200);
      assert.ok((got.body as Buffer).equals(image.manifest), 'the manifest comes back byte for byte');
      assert.ok(readdirSync(path.join(checkout, 'data')).includes('postgres'), 'the database is in ./data of the checkout');
      assert.equal(readdirSync(path.join(checkout, 'data', 'postgres')).includes('PG_VERSION'), true);
      // The PostgreSQL binary that runs is the copy's, inside the 0700 directory.
      const cmdline = readFileSync(`/proc/${postmasterPid(path.join(checkout, 'data'))}/cmdline`, 'utf8');
      assert.ok(cmdline.startsWith(path.join(checkout, 'node_modules')), cmdline);
      assert.ok(existsSync(path.join(checkout, 'dist', 'cli.js')), 'npm start built dist/');
      assert.equal(statSync(home).mode & 0o777, 0o700, 'the 0700 directory was not loosened');
      assert.equal(statSync(path.join(checkout, 'data', 'postgres')).uid, 0, 'the database files are root\'s');
      process.kill(-term.child.pid!, 'SIGINT');
      await term.exited;
      assert.match(term.output(), /"msg":"stopped"/, term.output().slice(-3000));

      // The test runner's own PostgreSQL works from there too (one small file: the runner is what is tested).
      const tests = inTerminal('npm', ['test', '--', 'test/unit/startup-error.test.ts'], { cwd: checkout, env: { BERTH_TEST_STORAGE: 'fs' } });
      const testsExit = await tests.exited;
      assert.equal(testsExit.code, 0, tests.output().slice(-3000));
      assert.match(tests.output(), /ℹ pass 2/);
    } finally {
      if (term) await stopJob(term);
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('as root where user namespaces are unavailable: the "postgres" system user fallback', () => {
  let dir: string;
  let noUnshare: NodeJS.ProcessEnv;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-nouserns-'));
    chmodSync(dir, 0o755);
    // A PATH on which `unshare` is missing stands in for a seccomp profile that refuses it.
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    for (const tool of ['id', 'useradd']) {
      const found = ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].map((d) => path.join(d, tool)).find((p) => existsSync(p));
      if (found) symlinkSync(found, path.join(bin, tool));
    }
    noUnshare = { PATH: bin, LOG_LEVEL: 'warn' };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a data directory under a 0700 directory: one line naming the fixes, nothing started', { timeout: 120_000 }, async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('runs as root only');
      return;
    }
    const closed = path.join(dir, 'closed');
    mkdirSync(closed, { mode: 0o700 });
    const r = await runCli(['serve'], { ...noUnshare, BERTH_DATA_DIR: path.join(closed, 'data'), BERTH_ADDR: `127.0.0.1:${await freePort()}` });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    // What it cannot reach first: the data directory, or (a checkout itself in a 0700 directory, such as
    // /root/berth) the PostgreSQL binaries under node_modules.
    assert.match(r.stderr, /^berth: the embedded PostgreSQL runs as the "postgres" system user here \(user namespaces are unavailable\) and cannot reach (\S+\/closed\/data|\S+\/node_modules\/\S+): move Berth and its BERTH_DATA_DIR out of the 0700 directory .*allow user namespaces, or set DATABASE_URL$/m);
    assert.equal(statSync(closed).mode & 0o777, 0o700, 'the directory above the data directory was not loosened');
  });

  it('elsewhere the registry runs, its PostgreSQL as the postgres user', { timeout: 240_000 }, async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('runs as root only');
      return;
    }
    const open = path.join(dir, 'open');
    mkdirSync(open, { mode: 0o755 });
    const dataDir = path.join(open, 'data');
    const addr = `127.0.0.1:${await freePort()}`;
    const term = inTerminal(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src', 'cli.ts'), 'serve'], { cwd: REPO_ROOT, env: { ...noUnshare, BERTH_DATA_DIR: dataDir, BERTH_ADDR: addr } });
    try {
      const ids = { uid: Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout), gid: Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout) };
      const binaryReachable = spawnSync('test', ['-x', path.join(REPO_ROOT, 'node_modules')], { ...ids, stdio: 'ignore' }).status === 0;
      if (!binaryReachable) {
        // This checkout itself sits in a directory the postgres user cannot enter: the message says so.
        await term.exited;
        assert.match(term.output(), /cannot reach .*node_modules.*allow user namespaces/);
        return;
      }
      await waitFor('the registry to answer', answers(`http://${addr}`), term);
      await pushImage(supertest.agent(`http://${addr}`), 'fallback/app', 'v1');
      assert.equal(statSync(`/proc/${postmasterPid(dataDir)}`).uid, ids.uid, 'PostgreSQL runs as the postgres user');
    } finally {
      await stopJob(term);
    }
    assert.deepEqual(await term.exited, { code: 0, signal: null }, term.output().slice(-3000));
  });
});
