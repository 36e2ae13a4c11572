// `berth history | rollback | diff` as a user runs them: the real CLI (a child process) against a
// Berth listening on 127.0.0.1. Also the client side of Docker token auth, against a small gateway
// in front of Berth that demands a Bearer token from its own token endpoint (Berth's token auth is
// another issue; the client must already follow the protocol), with credentials from a docker
// config.json as `docker login` writes it.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/berth-cli.js';
import { REPO_ROOT } from '../helpers/berth-process.js';
import { pushImage, type TestImage } from '../helpers/oci.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

function berth(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCli(args, env);
}

async function listen(handler: http.RequestListener): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('berth history | rollback | diff (the CLI over HTTP)', () => {
  let reg: TestRegistry;
  let server: Awaited<ReturnType<typeof listen>>;
  let a: TestImage;
  let b: TestImage;
  const env = () => ({ BERTH_REGISTRY: server.url });
  before(async () => {
    reg = await startTestRegistry();
    server = await listen(reg.app.callback());
    a = await pushImage(reg.request, 'team/app', 'prod');
    b = await pushImage(reg.request, 'team/app', 'prod');
  });
  after(async () => {
    await server?.close();
    await reg?.close();
  });

  it('rolls back to the previous image, with a reason; history shows a table of three events', async () => {
    const r = await berth(['rollback', 'team/app:prod', '--reason', 'bad deploy'], env());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`team/app:prod: ${b.digest} → ${a.digest}\\nrevision 3 \\(rollback by anonymous: bad deploy\\)`));
    const h = await berth(['history', 'team/app:prod'], env());
    assert.equal(h.code, 0, h.stderr);
    const lines = h.stdout.trim().split('\n');
    assert.equal(lines[0], `team/app:prod → ${a.digest}`);
    assert.match(lines[2]!, /^REV\s+ACTION\s+DIGEST\s+PREVIOUS\s+ACTOR\s+WHEN\s+REASON$/);
    assert.match(lines[3]!, new RegExp(`^3\\s+rollback\\s+${a.digest.slice(0, 19)}\\s+${b.digest.slice(0, 19)}\\s+anonymous\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ\\s+bad deploy$`));
    assert.match(lines[4]!, /^2\s+move\s/);
    assert.match(lines[5]!, /^1\s+push\s/);
    assert.equal(lines.length, 6);
  });

  it('does a dry run, goes to a revision, and prints JSON with --json', async () => {
    const dry = await berth(['rollback', 'team/app:prod', '--revision', '2', '--dry-run', '--registry', server.url]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^dry run, nothing changed: .* would be revision 4/);
    const json = await berth(['rollback', 'team/app:prod', '--revision', '2', '--json'], env());
    assert.equal(json.code, 0, json.stderr);
    const result = JSON.parse(json.stdout) as { to: string; event: { revision: number } };
    assert.equal(result.to, b.digest);
    assert.equal(result.event.revision, 4);
  });

  it('shows a diff between a revision and the tag', async () => {
    const r = await berth(['diff', 'team/app', 'prod@1', 'prod'], env());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^team/app: prod@1 \\(${a.digest.slice(0, 19)}\\) → prod \\(${b.digest.slice(0, 19)}\\)`));
    assert.match(r.stdout, /linux\/amd64: changed\n {2}layers: 2 added, 2 removed, 0 kept; 1\.0 KiB → 1\.0 KiB/);
  });

  it('finds the server from BERTH_ADDR when nothing else names the registry', async () => {
    const r = await berth(['history', 'team/app:prod'], { BERTH_ADDR: `127.0.0.1:${server.port}`, BERTH_REGISTRY: undefined, BERTH_PUBLIC_URL: undefined });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^team\/app:prod → sha256:/);
  });

  it('says how to point it elsewhere when nothing answers, and prints its version', async () => {
    const closed = await listen(() => {});
    await closed.close();
    const r = await berth(['history', 'team/app:prod'], { BERTH_ADDR: `127.0.0.1:${closed.port}`, BERTH_REGISTRY: undefined, BERTH_PUBLIC_URL: undefined });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      `berth: cannot reach the registry at http://127.0.0.1:${closed.port} (ECONNREFUSED; address from BERTH_ADDR); point the CLI at Berth with --registry URL or BERTH_REGISTRY=URL`,
    );
    const version = await berth(['--version']);
    assert.equal(version.code, 0);
    assert.equal(version.stdout.trim(), `berth ${(JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version}`);
  });

  it('exits 1 with the registry error for an unknown tag and a moved tag, 2 for usage errors', async () => {
    const unknown = await berth(['history', 'team/app:nope'], env());
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^berth: TAG_UNKNOWN: tag "nope" of team\/app has no history/);
    const moved = await berth(['rollback', 'team/app:prod', '--expect', a.digest], env());
    assert.equal(moved.code, 1);
    assert.match(moved.stderr, /PRECONDITION_FAILED/);
    const usage = await berth(['rollback', 'team/app:prod', '--revision', '1', '--digest', a.digest], env());
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /give one of --to, --revision, --digest, --at/);
    const noTag = await berth(['history', 'team/app'], env());
    assert.equal(noTag.code, 2);
  });
});

describe('the CLI behind Docker token auth (client side of the token flow)', () => {
  let reg: TestRegistry;
  let berthServer: Awaited<ReturnType<typeof listen>>;
  let gateway: Awaited<ReturnType<typeof listen>>;
  let dockerConfig: string;
  const seen: { tokenRequests: { authorization: string | undefined; query: string }[]; bearer: number } = { tokenRequests: [], bearer: 0 };
  const TOKEN = 'token-for-alice';

  before(async () => {
    reg = await startTestRegistry();
    berthServer = await listen(reg.app.callback());
    await pushImage(reg.request, 'team/app', 'prod');
    await pushImage(reg.request, 'team/app', 'prod');
    // The gateway: /token issues a token for alice:secret; everything else needs it, and is passed on to Berth.
    gateway = await listen((req, res) => {
      const url = new URL(req.url!, 'http://gateway');
      if (url.pathname === '/token') {
        seen.tokenRequests.push({ authorization: req.headers.authorization, query: url.search });
        const ok = req.headers.authorization === `Basic ${Buffer.from('alice:secret').toString('base64')}`;
        res.writeHead(ok ? 200 : 401, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(ok ? { token: TOKEN, expires_in: 300 } : { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials', detail: 'x' }] }));
        return;
      }
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.writeHead(401, {
          'Content-Type': 'application/json',
          'WWW-Authenticate': `Bearer realm="http://127.0.0.1:${gateway.port}/token",service="berth-test",scope="repository:team/app:pull,push"`,
        });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }] }));
        return;
      }
      seen.bearer++;
      const upstream = http.request(`${berthServer.url}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode!, up.headers);
        up.pipe(res);
      });
      req.pipe(upstream);
    });
    dockerConfig = await mkdtemp(path.join(tmpdir(), 'berth-docker-config-'));
    await writeFile(
      path.join(dockerConfig, 'config.json'),
      JSON.stringify({ auths: { [`127.0.0.1:${gateway.port}`]: { auth: Buffer.from('alice:secret').toString('base64') } } }),
    );
  });
  after(async () => {
    await gateway?.close();
    await berthServer?.close();
    await reg?.close();
    await rm(dockerConfig, { recursive: true, force: true });
  });

  it('fetches a token from the realm with the docker config credentials and retries with it', async () => {
    const r = await berth(['rollback', 'team/app:prod'], { BERTH_REGISTRY: gateway.url, DOCKER_CONFIG: dockerConfig });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /revision 3 \(rollback by anonymous\)/);
    const last = seen.tokenRequests.at(-1)!;
    assert.equal(last.authorization, `Basic ${Buffer.from('alice:secret').toString('base64')}`);
    const query = new URLSearchParams(last.query);
    assert.equal(query.get('service'), 'berth-test');
    assert.equal(query.get('scope'), 'repository:team/app:pull,push');
    assert.equal(query.get('account'), 'alice');
    assert.ok(seen.bearer >= 1);
  });

  it('takes credentials from flags over the docker config, and reports refused ones', async () => {
    const refused = await berth(['history', 'team/app:prod', '--username', 'alice', '--password', 'wrong'], { BERTH_REGISTRY: gateway.url, DOCKER_CONFIG: dockerConfig });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /token server .* refused the credentials \(HTTP 401\)/);
    const env = await berth(['history', 'team/app:prod'], { BERTH_REGISTRY: gateway.url, BERTH_USERNAME: 'alice', BERTH_PASSWORD: 'secret' });
    assert.equal(env.code, 0, env.stderr);
    assert.match(env.stdout, /^team\/app:prod → sha256:/);
  });
});
