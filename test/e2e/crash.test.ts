// End-to-end: the registry is SIGKILLed in the middle of a large push. After a restart nothing
// half-written is visible (no tag, no manifest, no partial blob) and the push can simply be retried.
//
// skopeo pushes through a small TCP proxy that counts the bytes going to the registry; once
// BIG_MIB/3 have passed, the proxy stops forwarding and the registry is killed — so the kill
// always lands mid-upload, however fast the machine is.
//
// Run: node --import tsx --test test/e2e/crash.test.ts
// Needs: skopeo, DATABASE_URL. BERTH_E2E_BIG_MIB overrides the big layer's size (default 200).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getBlob, headBlob, headManifest, listTags, registryRequest, startRegistry, targetTools, type RegistryInstance } from '../helpers/berth-process.js';
import { fileDigest, readOciLayout, sha256, writeLargeOciImage, type Descriptor, type OciLayout } from '../helpers/images.js';
import { assertTools, describeRun, run, suiteSkip, type RunResult } from '../helpers/system-tools.js';

const TOOLS = ['skopeo', ...targetTools()];
const BIG_MIB = Number(process.env.BERTH_E2E_BIG_MIB ?? 200);

interface CountingProxy {
  host: string;
  /** bytes forwarded client → registry so far */
  forwarded(): number;
  /**
   * Resolves once `bytes` have been forwarded (in the same tick). With hold (the default),
   * forwarding then stops: the client hangs mid-request.
   */
  holdAfter(bytes: number, opts?: { hold?: boolean }): Promise<void>;
  /** drops every connection */
  cut(): void;
  close(): Promise<void>;
}

async function startCountingProxy(upstreamPort: number): Promise<CountingProxy> {
  let forwarded = 0;
  let limit = Number.POSITIVE_INFINITY;
  let held = false;
  let hold = true;
  let fired = false;
  let onHold: (() => void) | null = null;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.on('data', (chunk: Buffer) => {
      if (held) return;
      forwarded += chunk.length;
      if (!upstream.write(chunk)) {
        client.pause();
        upstream.once('drain', () => {
          if (!held) client.resume();
        });
      }
      if (forwarded >= limit && !fired) {
        fired = true;
        if (hold) {
          held = true;
          for (const s of sockets) s.pause();
        }
        onHold?.();
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!held) client.write(chunk);
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    forwarded: () => forwarded,
    holdAfter: (bytes, opts) =>
      new Promise<void>((res) => {
        limit = bytes;
        hold = opts?.hold ?? true;
        onHold = res;
      }),
    cut: () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    close: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}

describe('crash (SIGKILL) and shutdown (SIGTERM) during a large push', { skip: suiteSkip(TOOLS) }, () => {
  let reg: RegistryInstance;
  let work: string;
  let image: OciLayout & { bigLayer: Descriptor };

  before(async () => {
    assertTools(TOOLS);
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-crash-'));
    [reg, image] = await Promise.all([
      startRegistry(),
      writeLargeOciImage(join(work, 'src'), { tag: 'big', bigBytes: BIG_MIB * 1024 * 1024 }),
    ]);
  });

  after(async () => {
    await reg?.destroy();
    if (work && process.env.BERTH_E2E_KEEP !== '1') await rm(work, { recursive: true, force: true });
  });

  function explain(r: RunResult): string {
    return `${describeRun(r)}\n--- registry output (tail) ---\n${reg.output().slice(-4000)}`;
  }

  it('shows no tag and no partial blob after the crash, and the retried push pulls back intact', { timeout: 300_000 }, async (t) => {
    const repo = 'crash/big';
    const manifestDigest = image.images[0]!.manifest.digest;
    const big = image.bigLayer;

    // 1. push through the proxy; kill the registry a third of the way into the big layer
    const proxy = await startCountingProxy(reg.port);
    const held = proxy.holdAfter(Math.floor(big.size / 3));
    const push = run('skopeo', ['copy', '--retry-times=0', '--dest-tls-verify=false', `oci:${image.dir}:big`, `docker://${proxy.host}/${repo}:1`], {
      timeoutMs: 300_000,
    });
    const first = await Promise.race([held.then(() => 'held' as const), push.then(() => 'push ended' as const)]);
    if (first !== 'held') {
      await proxy.close();
      assert.fail(`the push ended before ${Math.floor(big.size / 3)} bytes went through (forwarded ${proxy.forwarded()})\n${explain(await push)}`);
    }
    const killed = await reg.kill();
    assert.equal(killed.signal, 'SIGKILL');
    proxy.cut();
    const failed = await push;
    await proxy.close();
    assert.notEqual(failed.code, 0, `skopeo should fail when the registry dies under it\n${explain(failed)}`);
    t.diagnostic(`registry SIGKILLed after ${proxy.forwarded()} of ~${big.size} bytes; skopeo: ${failed.stderr.trim().split('\n').pop()}`);

    // 2. restart on the same data dir and database
    await reg.restart();

    // 3. nothing half-pushed is visible
    const byTag = await headManifest(reg, repo, '1');
    assert.equal(byTag.status, 404, `half-pushed tag is visible: ${byTag.describe}`);
    const byDigest = await headManifest(reg, repo, manifestDigest);
    assert.equal(byDigest.status, 404, `half-pushed manifest is visible: ${byDigest.describe}`);
    const tags = await listTags(reg, repo);
    assert.ok(tags === null || !tags.includes('1'), `tag list shows the half-pushed tag: ${JSON.stringify(tags)}`);
    const headBig = await headBlob(reg, repo, big.digest);
    assert.equal(headBig.status, 404, `partial blob is visible: ${headBig.describe}`);
    const getBig = await getBlob(reg, repo, big.digest);
    assert.equal(getBig.status, 404, `partial blob is served: GET → ${getBig.status}, ${getBig.body.length} bytes`);
    // and no other repository serves it either (content is deduplicated across repositories)
    const mount = await registryRequest(reg, 'POST', `/v2/other/repo/blobs/uploads/?mount=${big.digest}&from=${repo}`);
    assert.notEqual(mount.status, 201, `partial blob could be mounted: ${mount.describe}`);

    // 4. the retried push (straight to the registry) succeeds and pulls back intact
    const retry = await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${image.dir}:big`, `docker://${reg.host}/${repo}:1`], {
      timeoutMs: 300_000,
    });
    assert.equal(retry.code, 0, `retried push failed\n${explain(retry)}`);
    const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/${repo}:1`]);
    assert.equal(raw.code, 0, explain(raw));
    assert.equal(sha256(raw.stdoutBytes), manifestDigest);
    const headAfter = await headBlob(reg, repo, big.digest);
    assert.equal(headAfter.status, 200, headAfter.describe);
    assert.equal(Number(headAfter.headers.get('content-length')), big.size);

    const outDir = join(work, 'out');
    const pull = await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.host}/${repo}:1`, `oci:${outDir}:1`], {
      timeoutMs: 300_000,
    });
    assert.equal(pull.code, 0, explain(pull));
    const out = await readOciLayout(outDir);
    assert.equal(out.blobs.get(big.digest), big.size, 'big layer size after pull');
    assert.equal(await fileDigest(out.blobPath(big.digest)), big.digest, 'big layer content after pull');
    for (const [digest, size] of image.blobs) assert.equal(out.blobs.get(digest), size, `${digest} after pull`);
  });

  it('an upload session interrupted by a crash mid-chunk resumes at the offset the registry reports', { timeout: 120_000 }, async (t) => {
    const blob = randomBytes(6 * 1024 * 1024 + 7);
    const digest = sha256(blob);
    const repo = 'crash/resume';
    const cut = 2 * 1024 * 1024;
    const at = (u: URL) => u.pathname + u.search;

    const post = await registryRequest(reg, 'POST', `/v2/${repo}/blobs/uploads/`);
    assert.equal(post.status, 202, post.describe);
    let loc = new URL(post.headers.get('location') ?? '', reg.url);
    const p1 = await registryRequest(reg, 'PATCH', at(loc), {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${cut - 1}` },
      body: blob.subarray(0, cut),
    });
    assert.equal(p1.status, 202, p1.describe);
    loc = new URL(p1.headers.get('location') ?? at(loc), reg.url);

    // the second chunk: half of it is sent, then the registry is killed
    const req = httpRequest({
      host: '127.0.0.1',
      port: reg.port,
      method: 'PATCH',
      path: at(loc),
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Range': `${cut}-${blob.length - 1}`,
        'Content-Length': String(blob.length - cut),
      },
    });
    req.on('error', () => {});
    const half = cut + Math.floor((blob.length - cut) / 2);
    await new Promise<void>((res) => req.write(blob.subarray(cut, half), () => res()));
    await sleep(500);
    await reg.kill();
    req.destroy();
    await reg.restart();

    const status = await registryRequest(reg, 'GET', at(loc));
    if (status.status !== 204) {
      // refusing the interrupted session is safe (the client starts over) — but Berth keeps
      // upload sessions in PostgreSQL and promises they survive
      assert.notEqual(reg.target, 'berth', `Berth lost the upload session after a crash: ${status.describe}`);
      assert.ok(status.status === 404 || status.status === 400, status.describe);
      t.diagnostic(`${reg.target} refused the interrupted session: ${status.describe}`);
      return;
    }
    const range = status.headers.get('range') ?? '';
    const m = /^0-(\d+)$/.exec(range);
    assert.ok(m, `bad Range after restart: "${range}" (${status.describe})`);
    const offset = Number(m[1]) + 1;
    assert.ok(offset >= cut && offset <= half, `reported offset ${offset} outside [${cut}, ${half}]`);
    t.diagnostic(`resuming at ${offset} (first chunk ended at ${cut}, ${half} sent before the kill)`);
    loc = new URL(status.headers.get('location') ?? at(loc), reg.url);

    const p2 = await registryRequest(reg, 'PATCH', at(loc), {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${blob.length - 1}` },
      body: blob.subarray(offset),
    });
    assert.equal(p2.status, 202, p2.describe);
    assert.equal(p2.headers.get('range'), `0-${blob.length - 1}`);
    loc = new URL(p2.headers.get('location') ?? at(loc), reg.url);
    loc.searchParams.set('digest', digest);
    const put = await registryRequest(reg, 'PUT', at(loc));
    assert.equal(put.status, 201, `completing the resumed upload failed: ${put.describe}`);
    const got = await getBlob(reg, repo, digest);
    assert.equal(got.status, 200, got.describe);
    assert.ok(got.body.equals(blob), 'resumed blob bytes differ');
  });

  it('SIGTERM during a large push: the request in flight finishes, the process exits 0, nothing half-pushed shows', { timeout: 300_000 }, async (t) => {
    const repo = 'crash/term';
    const big = image.bigLayer;
    const proxy = await startCountingProxy(reg.port);
    // no hold this time: bytes keep flowing while the registry shuts down
    const third = proxy.holdAfter(Math.floor(big.size / 3), { hold: false });
    const push = run('skopeo', ['copy', '--retry-times=0', '--dest-tls-verify=false', `oci:${image.dir}:big`, `docker://${proxy.host}/${repo}:1`], {
      timeoutMs: 300_000,
    });
    const first = await Promise.race([third.then(() => 'third' as const), push.then(() => 'push ended' as const)]);
    if (first !== 'third') {
      await proxy.close();
      assert.fail(`the push ended before a third of the big layer went through (forwarded ${proxy.forwarded()})\n${explain(await push)}`);
    }
    const atSignal = proxy.forwarded();
    const exit = await reg.stop('SIGTERM', 60_000);
    const pushed = await push;
    await proxy.close();
    t.diagnostic(`SIGTERM after ${atSignal} bytes forwarded (${proxy.forwarded()} in all); exit after ${exit.ms} ms; skopeo exit ${pushed.code}: ${pushed.stderr.trim().split('\n').pop()}`);
    if (reg.target === 'berth') {
      assert.equal(exit.signal, null, `Berth died by ${exit.signal} on SIGTERM\n${reg.output().slice(-3000)}`);
      assert.equal(exit.code, 0, `Berth exit code on SIGTERM\n${reg.output().slice(-3000)}`);
      assert.ok(exit.ms < 35_000, `shutdown took ${exit.ms} ms`);
      // graceful: the PATCH carrying the big layer was let finish before the process exited
      assert.ok(proxy.forwarded() >= big.size, `the upload in flight was cut at ${proxy.forwarded()} of ${big.size} bytes\n${explain(pushed)}`);
    }

    await reg.restart();
    const manifestDigest = image.images[0]!.manifest.digest;
    if (pushed.code === 0) {
      // the whole push made it before the shutdown: then all of it must be there
      const h = await headManifest(reg, repo, '1');
      assert.equal(h.status, 200, h.describe);
      assert.equal(h.headers.get('docker-content-digest'), manifestDigest);
    } else {
      const h = await headManifest(reg, repo, '1');
      assert.equal(h.status, 404, `half-pushed tag is visible: ${h.describe}`);
    }
    const retry = await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${image.dir}:big`, `docker://${reg.host}/${repo}:1`], { timeoutMs: 300_000 });
    assert.equal(retry.code, 0, explain(retry));
    const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/${repo}:1`]);
    assert.equal(sha256(raw.stdoutBytes), manifestDigest, explain(raw));
    const hb = await headBlob(reg, repo, big.digest);
    assert.equal(hb.status, 200, hb.describe);
    assert.equal(Number(hb.headers.get('content-length')), big.size);
  });
});
