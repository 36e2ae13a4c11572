// The pull-through cache with real clients, on the fs store only (the S3 pass re-runs
// test/e2e/proxy-cache.test.ts for the storage side): dockerd with `registry-mirrors` pointing at
// Berth, containerd's hosts.toml (mirror form and override_path), skopeo through a prefix, and a
// large layer pulled through with Berth's memory measured.
//
// Run: npm test -- test/proxy/proxy-clients.test.ts
// Needs: dockerd, docker, ctr (all from docker.io), skopeo, docker-registry, htpasswd (scripts/install-test-deps.sh).
// BERTH_PROXY_LAYER_MB sets the large layer's size (default 256; CI uses 1024).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startRegistry, type RegistryInstance } from '../helpers/berth-process.js';
import { startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { readOciLayout, writeLargeOciImage, writeOciLayout } from '../helpers/images.js';
import { assertTools, describeRun, isCI, run, suiteSkip } from '../helpers/system-tools.js';
import { startUpstream, UPSTREAM_TOOLS, type Upstream } from '../helpers/upstream-registry.js';

const TOOLS = ['dockerd', 'docker', 'ctr', 'skopeo', ...UPSTREAM_TOOLS];
const LAYER_MB = Number(process.env.BERTH_PROXY_LAYER_MB ?? (isCI() ? 1024 : 256));

/** Berth's peak resident memory (VmHWM) since the last reset, in bytes. */
async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(status);
  assert.ok(kb, `no VmHWM in /proc/${pid}/status`);
  return Number(kb[1]) * 1024;
}

/** Starts the peak afresh from the current resident size ("5": reset the peak RSS, proc(5)). */
async function resetPeak(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '5');
}

/** GETs a blob, hashing it as it arrives (never held whole): its sha256 digest and size. */
function streamDigest(url: string): Promise<{ status: number; digest: string; size: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        const hash = createHash('sha256');
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          size += chunk.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, digest: `sha256:${hash.digest('hex')}`, size }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

describe('pull-through cache with docker, skopeo and a large layer', { skip: suiteSkip(TOOLS) }, () => {
  let upstream: Upstream;
  let berth: RegistryInstance;
  let work: string;

  before(async () => {
    assertTools(TOOLS);
    work = await mkdtemp(join(tmpdir(), 'berth-proxy-clients-'));
    upstream = await startUpstream();
    const proxies = [
      { prefix: 'hub', upstream: upstream.url, mirror: true, library: true, ...upstream.credentials, tagTtl: '10m' },
      { prefix: 'other', upstream: upstream.url, ...upstream.credentials, tagTtl: '10m' },
    ];
    berth = await startRegistry({ env: { BERTH_PROXIES: JSON.stringify(proxies) } });
  });

  after(async () => {
    await berth?.destroy();
    await upstream?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Manifest requests (GET and HEAD) Berth answered so far, from its request metrics. */
  async function manifestGets(): Promise<number> {
    const text = await (await fetch(`${berth.url}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith('berth_http_requests_total{') && l.includes('route="/v2/{name}/manifests/{reference}"'))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  }

  const creds = () => `${upstream.credentials.username}:${upstream.credentials.password}`;
  const upstreamHost = () => upstream.directUrl.replace('http://', '');

  async function skopeoOk(args: string[]) {
    const r = await run('skopeo', args, { timeoutMs: 600_000 });
    assert.equal(r.code, 0, `${describeRun(r)}\n--- berth ---\n${berth.output().slice(-3000)}`);
    return r;
  }

  it('skopeo copies a multi-platform image out through a prefix, byte for byte', { timeout: 180_000 }, async () => {
    const layout = await writeOciLayout(join(work, 'multi'), { tag: 'v1' });
    await skopeoOk(['copy', '--all', '--dest-tls-verify=false', '--dest-creds', creds(), `oci:${layout.dir}:v1`, `docker://${upstreamHost()}/team/multi:v1`]);
    upstream.clearLog();
    await skopeoOk(['copy', '--all', '--src-tls-verify=false', `docker://${berth.host}/other/team/multi:v1`, `oci:${join(work, 'out')}:v1`]);
    const out = await readOciLayout(join(work, 'out'));
    assert.equal(out.index.manifests[0]?.digest, layout.root.digest, 'the index digest changed on the way through the cache');
    const inspect = await skopeoOk(['inspect', '--raw', '--tls-verify=false', `docker://${berth.host}/other/team/multi:v1`]);
    assert.ok(inspect.stdoutBytes.equals(layout.rootBytes));
    assert.ok(upstream.count('GET', '/blobs/') > 0, 'the first copy went to the upstream');
  });

  it('dockerd with registry-mirrors, and containerd with hosts.toml, pull through Berth', { timeout: 300_000 }, async () => {
    const layout = await writeOciLayout(join(work, 'mirrored'), { tag: '1.0' });
    await skopeoOk(['copy', '--all', '--dest-tls-verify=false', '--dest-creds', creds(), `oci:${layout.dir}:1.0`, `docker://${upstreamHost()}/library/mirrored:1.0`]);
    let dockerd: Dockerd | undefined;
    try {
      dockerd = await startDockerd({ daemonConfig: { 'registry-mirrors': [berth.url] } });
      upstream.clearLog();
      const pull = await dockerd.docker(['pull', 'mirrored:1.0'], { timeoutMs: 240_000 });
      assert.equal(pull.code, 0, `${describeRun(pull)}\n--- dockerd ---\n${dockerd.log().slice(-3000)}\n--- berth ---\n${berth.output().slice(-3000)}`);
      const amd64 = layout.images.find((i) => i.platform.architecture === 'amd64')!;
      const inspect = await dockerd.dockerOk(['image', 'inspect', '--format', '{{.Id}}', 'mirrored:1.0']);
      assert.equal(inspect.stdout.trim(), amd64.config.digest, 'docker has the amd64 image the upstream holds');
      assert.equal(upstream.count('GET', '/v2/library/mirrored/manifests/1.0'), 1, JSON.stringify(upstream.log));

      // containerd (the one this dockerd runs) with hosts.toml: Docker Hub's mirror form, and a
      // prefix through override_path for another registry's name.
      const hostsDir = join(work, 'certs.d');
      await mkdir(join(hostsDir, 'docker.io'), { recursive: true });
      await writeFile(join(hostsDir, 'docker.io', 'hosts.toml'), `server = "https://registry-1.docker.io"\n[host."${berth.url}"]\n  capabilities = ["pull", "resolve"]\n`);
      await mkdir(join(hostsDir, 'registry.example'), { recursive: true });
      await writeFile(
        join(hostsDir, 'registry.example', 'hosts.toml'),
        `server = "https://registry.example"\n[host."${berth.url}/v2/other"]\n  capabilities = ["pull", "resolve"]\n  override_path = true\n`,
      );
      const socket = join(dirname(dockerd.host.replace('unix://', '')), 'exec', 'containerd', 'containerd.sock');
      const ctr = (ref: string) =>
        run('ctr', ['--address', socket, '--namespace', 'berth-proxy-test', 'content', 'fetch', '--hosts-dir', hostsDir, '--platform', 'linux/amd64', ref], { timeoutMs: 120_000 });
      for (const ref of ['docker.io/library/mirrored:1.0', 'registry.example/team/multi:v1']) {
        const before = await manifestGets();
        const fetched = await ctr(ref);
        assert.equal(fetched.code, 0, `${describeRun(fetched)}\n--- berth ---\n${berth.output().slice(-3000)}`);
        assert.ok((await manifestGets()) > before, `containerd fetched ${ref} without asking Berth`);
      }
    } finally {
      await dockerd?.stop();
    }
  });

  it(`streams a ${LAYER_MB} MiB layer to its first client while storing it, with flat memory`, { timeout: 600_000 }, async () => {
    const bigBytes = LAYER_MB * 1024 * 1024;
    const layout = await writeLargeOciImage(join(work, 'large'), { tag: 'big', bigBytes });
    await skopeoOk(['copy', '--dest-tls-verify=false', '--dest-creds', creds(), `oci:${layout.dir}:big`, `docker://${upstreamHost()}/team/large:big`]);
    await rm(layout.dir, { recursive: true, force: true });
    const manifest = await fetch(`${berth.url}/v2/hub/team/large/manifests/big`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(manifest.status, 200);
    await resetPeak(berth.pid);
    const before = await peakRss(berth.pid);
    const started = Date.now();
    const cold = await streamDigest(`${berth.url}/v2/hub/team/large/blobs/${layout.bigLayer.digest}`);
    const coldMs = Date.now() - started;
    assert.equal(cold.status, 200);
    assert.equal(cold.size, layout.bigLayer.size);
    assert.equal(cold.digest, layout.bigLayer.digest);
    const warmStarted = Date.now();
    const warm = await streamDigest(`${berth.url}/v2/hub/team/large/blobs/${layout.bigLayer.digest}`);
    const warmMs = Date.now() - warmStarted;
    assert.equal(warm.digest, layout.bigLayer.digest, 'the stored copy is whole');
    const peak = await peakRss(berth.pid);
    const growth = peak - before;
    console.log(
      `[proxy-clients] ${LAYER_MB} MiB layer: cold ${coldMs} ms, warm ${warmMs} ms; Berth VmHWM ${(before / 2 ** 20).toFixed(0)} → ${(peak / 2 ** 20).toFixed(0)} MiB (+${(growth / 2 ** 20).toFixed(0)} MiB)`,
    );
    assert.ok(growth < 128 * 1024 * 1024, `Berth's peak memory grew by ${(growth / 2 ** 20).toFixed(0)} MiB for a ${LAYER_MB} MiB layer`);
    assert.equal(upstream.count('GET', `/blobs/${layout.bigLayer.digest}`), 1);
  });
});
