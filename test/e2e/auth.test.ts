// End-to-end with BERTH_AUTH=token: the docker CLI logs in (user and robot account, created with
// the `berth` CLI) and pushes/pulls; without login or with a wrong password it is refused with a
// clear message and quickly; skopeo authenticates with --creds. The server's own log output never
// contains a password, secret or token.
//
// Run: node --import tsx --test test/e2e/auth.test.ts (needs dockerd + docker, skopeo, DATABASE_URL).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { berthCli, runCli } from '../helpers/berth-cli.js';
import { startRegistry, type RegistryInstance } from '../helpers/berth-process.js';
import { startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { buildDockerImage, randomFiles, randomId, readFilesFromImage, removeLocalImages, sha256, writeOciLayout, type OciLayout } from '../helpers/images.js';
import { assertTools, describeRun, run, suiteSkip, type RunResult } from '../helpers/system-tools.js';

const TOOLS = ['dockerd', 'docker', 'skopeo'];
const ADMIN_PASSWORD = 'admin-Pa55word-e2e';
const ALICE_PASSWORD = 'alice-Pa55word-e2e';

describe('token auth end to end: docker login/push/pull, skopeo --creds', { skip: process.env.BERTH_E2E_TARGET === 'distribution' ? 'Berth only' : suiteSkip(TOOLS) }, () => {
  let dockerd: Dockerd;
  let reg: RegistryInstance;
  let robotSecret: string;
  let work: string;
  let layout: OciLayout;
  const run3 = randomId(3);

  before(async () => {
    assertTools(TOOLS);
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-auth-'));
    [dockerd, reg, layout] = await Promise.all([
      startDockerd(),
      startRegistry({ env: { BERTH_AUTH: 'token', BERTH_ADMIN_USER: 'admin', BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD, LOG_LEVEL: 'info' } }),
      writeOciLayout(join(work, 'src'), { tag: 'v1' }),
    ]);
    const add = await berthCli(reg, ['user', 'add', 'alice', '--allow', 'team/*:pull,push'], `${ALICE_PASSWORD}\n`);
    assert.equal(add.code, 0, describeRun(add));
    const robot = await berthCli(reg, ['robot', 'create', 'ci', '--allow', 'ci/*:pull,push', '--expires', '1d', '--json']);
    assert.equal(robot.code, 0, describeRun(robot));
    robotSecret = (JSON.parse(robot.stdout) as { secret: string }).secret;
  });

  after(async () => {
    await Promise.all([dockerd?.stop(), reg?.destroy()]);
    if (work && process.env.BERTH_E2E_KEEP !== '1') await rm(work, { recursive: true, force: true });
  });

  const explain = (r: RunResult) => `${describeRun(r)}\n--- registry output (tail) ---\n${reg.output().slice(-4000)}`;
  const login = (user: string, password: string) => dockerd.docker(['login', reg.host, '-u', user, '--password-stdin'], { input: password, timeoutMs: 60_000 });
  const logout = () => dockerd.dockerOk(['logout', reg.host]);

  async function image(name: string) {
    const built = await buildDockerImage(dockerd, { tag: `local/${name}-${run3}:1`, layers: [randomFiles(`opt/${name}`, 2, 20_000)] });
    return built;
  }

  /** Tags `img` as `ref`, pushes it, forgets both names locally and pulls `ref` back. */
  async function pushAndPullBack(img: { tag: string }, ref: string): Promise<void> {
    await dockerd.dockerOk(['tag', img.tag, ref]);
    const push = await dockerd.docker(['push', ref], { timeoutMs: 120_000 });
    assert.equal(push.code, 0, explain(push));
    await removeLocalImages(dockerd, [ref, img.tag]);
    const pull = await dockerd.docker(['pull', ref], { timeoutMs: 120_000 });
    assert.equal(pull.code, 0, explain(pull));
  }

  it('refuses a push without login, quickly, telling docker to authenticate', { timeout: 120_000 }, async () => {
    const img = await image('nologin');
    const ref = `${reg.host}/team/nologin:1`;
    await dockerd.dockerOk(['tag', img.tag, ref]);
    const t0 = Date.now();
    const r = await dockerd.docker(['push', ref], { timeoutMs: 90_000 });
    assert.notEqual(r.code, 0, explain(r));
    assert.match(r.stderr + r.stdout, /unauthorized: authentication required/, explain(r));
    assert.ok(Date.now() - t0 < 30_000, `the refused push took ${Date.now() - t0} ms`);
  });

  it('fails docker login with a wrong password, with a clear message', { timeout: 60_000 }, async () => {
    const r = await login('alice', 'not-the-password');
    assert.notEqual(r.code, 0, explain(r));
    assert.match(r.stderr, /incorrect username or password/, explain(r));
  });

  it('logs a user in, pushes, and pulls back the same image; the user cannot push elsewhere', { timeout: 180_000 }, async () => {
    const r = await login('alice', ALICE_PASSWORD);
    assert.equal(r.code, 0, explain(r));
    assert.match(r.stdout, /Login Succeeded/);
    const img = await image('alice');
    const ref = `${reg.host}/team/app:1`;
    await pushAndPullBack(img, ref);
    const got = await readFilesFromImage(dockerd, ref, img.files.map((f) => f.path));
    for (const f of img.files) assert.ok(got.get(f.path)?.equals(f.content), `${f.path} differs`);

    const elsewhere = `${reg.host}/ci/app:1`;
    await dockerd.dockerOk(['tag', ref, elsewhere]);
    const denied = await dockerd.docker(['push', elsewhere], { timeoutMs: 90_000 });
    assert.notEqual(denied.code, 0, explain(denied));
    assert.match(denied.stderr + denied.stdout, /denied: requested access to the resource is denied: alice may not pull or push to repository ci\/app \(an administrator can grant it/, explain(denied));

    // What docker login stored (a refresh token as identitytoken, no password) is all the CLI needs.
    const stored = JSON.parse(await readFile(join(dockerd.env.DOCKER_CONFIG!, 'config.json'), 'utf8')) as { auths: Record<string, { auth?: string; identitytoken?: string }> };
    assert.ok(stored.auths[reg.host]?.identitytoken, `docker stored an identity token: ${JSON.stringify(Object.keys(stored.auths))}`);
    assert.equal(Buffer.from(stored.auths[reg.host]!.auth ?? '', 'base64').toString(), 'alice:');
    const history = await runCli(['history', 'team/app:1', '--registry', reg.host], { DOCKER_CONFIG: dockerd.env.DOCKER_CONFIG });
    assert.equal(history.code, 0, explain(history));
    assert.match(history.stdout, /^team\/app:1 → sha256:[0-9a-f]{64}\n/);
    assert.match(history.stdout, /\n1 +push +sha256:\S+ +- +alice /);
    await logout();
    const anonymous = await runCli(['history', 'team/app:1', '--registry', reg.host], { DOCKER_CONFIG: dockerd.env.DOCKER_CONFIG });
    assert.equal(anonymous.code, 1, explain(anonymous));
    assert.match(anonymous.stderr, /UNAUTHORIZED/);
  });

  it('logs a robot account in with its secret and pushes and pulls', { timeout: 180_000 }, async () => {
    const r = await login('ci', robotSecret);
    assert.equal(r.code, 0, explain(r));
    const img = await image('robot');
    const ref = `${reg.host}/ci/build:${run3}`;
    await pushAndPullBack(img, ref);
    assert.equal(JSON.parse((await dockerd.dockerOk(['image', 'inspect', ref])).stdout)[0].Id, img.id);
    await logout();
  });

  it('lets skopeo copy and inspect with --creds, and refuses it without', { timeout: 120_000 }, async () => {
    const dest = `docker://${reg.host}/team/skopeo:v1`;
    const copy = await run('skopeo', ['copy', '--all', '--dest-tls-verify=false', '--dest-creds', `alice:${ALICE_PASSWORD}`, `oci:${layout.dir}:v1`, dest], { timeoutMs: 120_000 });
    assert.equal(copy.code, 0, explain(copy));
    const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', `alice:${ALICE_PASSWORD}`, dest]);
    assert.equal(raw.code, 0, explain(raw));
    assert.equal(sha256(raw.stdoutBytes), layout.root.digest);
    const anonymous = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', '--no-creds', dest]);
    assert.notEqual(anonymous.code, 0, explain(anonymous));
    const wrong = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', 'alice:wrong-password', dest]);
    assert.notEqual(wrong.code, 0, explain(wrong));
    assert.match(wrong.stderr, /incorrect username or password|unauthorized/i, explain(wrong));
  });

  it('lets an operator lift a lockout of the running server with berth user unlock', { timeout: 120_000 }, async () => {
    const token = (password: string) => fetch(`${reg.url}/token`, { headers: { Authorization: `Basic ${Buffer.from(`alice:${password}`).toString('base64')}` } });
    let status = 0;
    for (let i = 0; i < 20 && status !== 429; i++) status = (await token(`wrong-password-${i}`)).status;
    assert.equal(status, 429, 'alice is locked out after her failures');
    assert.equal((await token(ALICE_PASSWORD)).status, 429, 'even with the right password');
    const unlock = await berthCli(reg, ['user', 'unlock', 'alice']);
    assert.equal(unlock.code, 0, explain(unlock));
    assert.match(unlock.stdout, /lifted the login lockout of alice/);
    assert.equal((await token(ALICE_PASSWORD)).status, 200, 'the server let her in again');
    const unknown = await berthCli(reg, ['user', 'unlock', 'nobody']);
    assert.equal(unknown.code, 1, explain(unknown));
    assert.match(unknown.stderr, /no account "nobody"/);
    const nothing = await berthCli(reg, ['user', 'unlock']);
    assert.equal(nothing.code, 2, explain(nothing));
  });

  it('never writes a password, robot secret or token to its log', () => {
    const out = reg.output();
    assert.match(out, /"path":"\/token"/, 'the token requests were logged');
    for (const value of [ADMIN_PASSWORD, ALICE_PASSWORD, robotSecret]) assert.equal(out.includes(value), false, 'a secret is in the server log');
    assert.equal(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/.test(out), false, 'a JWT is in the server log');
  });
});
