// End-to-end: Berth as run in production, as a real process.
// - TLS served by Berth itself (BERTH_TLS_CERT/KEY) with a self-signed certificate made here by
//   openssl: skopeo pushes and pulls verifying it against that CA; plain http is refused.
// - /metrics on a separate listener (BERTH_METRICS_ADDR), the probes on both.
// - SIGTERM with an upload stalled mid-body: Berth waits BERTH_SHUTDOWN_TIMEOUT, cuts it, exits 0;
//   after a restart no partial blob is visible and the client resumes and finishes the upload.
//
// Run: node --import tsx --test test/e2e/production.test.ts (DATABASE_URL needed; npm test sets it)
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { get as httpsGet } from 'node:https';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, registryRequest, startRegistry, type RegistryInstance } from '../helpers/berth-process.js';
import { writeOciLayout, type OciLayout } from '../helpers/images.js';
import { assertTools, describeRun, run, runOk, suiteSkip } from '../helpers/system-tools.js';

const TOOLS = ['openssl', 'skopeo'];
const onBerth = (process.env.BERTH_E2E_TARGET ?? 'berth') === 'berth';

/** A GET over https that trusts only `ca`. */
function httpsStatus(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(url, { ca, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.once('error', reject);
  });
}

describe('Berth in production: TLS, metrics listener, shutdown timeout', { skip: onBerth ? suiteSkip(TOOLS) : 'Berth only' }, () => {
  let scratch: string;
  let layout: OciLayout;
  before(async () => {
    assertTools(TOOLS);
    scratch = await mkdtemp(join(tmpdir(), 'berth-prod-e2e-'));
    layout = await writeOciLayout(join(scratch, 'layout'), { tag: 'v1', platforms: [{ architecture: 'amd64', os: 'linux' }], ownLayers: 2 });
  });
  after(() => rm(scratch, { recursive: true, force: true }));

  describe('TLS in Berth and a separate metrics address', () => {
    let reg: RegistryInstance;
    let ca: Buffer;
    let certDir: string;
    let metricsPort: number;
    before(async () => {
      certDir = join(scratch, 'certs');
      await runOk('mkdir', ['-p', certDir]);
      // Self-signed for 127.0.0.1; skopeo reads CA certificates as *.crt in --cert-dir.
      await runOk('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=berth-test',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(scratch, 'tls.key'), '-out', join(certDir, 'ca.crt'),
      ]);
      ca = await readFile(join(certDir, 'ca.crt'));
      metricsPort = await freePort();
      reg = await startRegistry({
        env: { BERTH_TLS_CERT: join(certDir, 'ca.crt'), BERTH_TLS_KEY: join(scratch, 'tls.key'), BERTH_METRICS_ADDR: `127.0.0.1:${metricsPort}` },
      });
    });
    after(() => reg?.destroy());

    it('serves https with the configured certificate; plain http on that port gets no registry answer', async () => {
      assert.ok(reg.url.startsWith('https://'));
      const v2 = await httpsStatus(`${reg.url}/v2/`, ca);
      assert.equal(v2.status, 200);
      // Without the CA the certificate is refused: it really is the self-signed one.
      await assert.rejects(httpsStatus(`${reg.url}/v2/`, Buffer.from('')), /self[- ]signed|unable to verify|certificate/i);
      const plain = await fetch(`http://127.0.0.1:${reg.port}/v2/`).then((r) => r.status, () => 'refused');
      assert.notEqual(plain, 200);
    });

    it('skopeo pushes and pulls over TLS, verifying the certificate', { timeout: 120_000 }, async () => {
      const dest = `docker://${reg.host}/tls/app:v1`;
      const push = await run('skopeo', ['copy', '--all', '--dest-cert-dir', certDir, `oci:${layout.dir}:v1`, dest]);
      assert.equal(push.code, 0, `${describeRun(push)}\n${reg.output().slice(-3000)}`);
      const raw = await run('skopeo', ['inspect', '--raw', '--cert-dir', certDir, dest]);
      assert.equal(raw.code, 0, describeRun(raw));
      assert.equal(`sha256:${createHash('sha256').update(raw.stdoutBytes).digest('hex')}`, layout.root.digest);
      // Verification is on: a client without the CA fails.
      const untrusted = await run('skopeo', ['inspect', '--raw', dest]);
      assert.notEqual(untrusted.code, 0, 'skopeo accepted a self-signed certificate it was not given');
      assert.match(untrusted.stderr, /certificate|x509/i);
    });

    it('/metrics answers on BERTH_METRICS_ADDR (plain http) and not on the registry address; probes on both', async () => {
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      assert.equal(metrics.status, 200);
      const text = await metrics.text();
      assert.match(text, /^berth_http_requests_total\{method="PUT",route="\/v2\/\{name\}\/manifests\/\{reference\}",status="201"\} \d+$/m);
      assert.match(text, /^berth_process_cpu_seconds_total /m, 'process metrics are on in the server');
      assert.match(text, /^berth_db_pool_connections\{pool="query",state="total"\} \d+$/m);
      assert.equal((await httpsStatus(`${reg.url}/metrics`, ca)).status, 404);
      assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status, 200);
      assert.equal((await httpsStatus(`${reg.url}/readyz`, ca)).status, 200);
      assert.equal((await httpsStatus(`${reg.url}/healthz`, ca)).status, 200);
    });
  });

  describe('SIGTERM with an upload stalled mid-body (BERTH_SHUTDOWN_TIMEOUT=2s)', () => {
    let reg: RegistryInstance;
    before(async () => {
      reg = await startRegistry({ env: { BERTH_SHUTDOWN_TIMEOUT: '2s' } });
    });
    after(() => reg?.destroy());

    it('exits 0 after the timeout; after restart nothing partial is visible and the client resumes', { timeout: 240_000 }, async (t) => {
      const repo = 'shutdown/big';
      const blob = randomBytes(200 * 1024 * 1024);
      const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
      const started = await registryRequest(reg, 'POST', `/v2/${repo}/blobs/uploads/`);
      assert.equal(started.status, 202, started.describe);
      const location = started.headers.get('location')!;

      // A streamed PATCH (chunked, no Content-Range, as docker sends) that stops after ~half.
      const half = 100 * 1024 * 1024;
      const req = httpRequest(new URL(location, reg.url), { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream' } });
      const outcome = new Promise<string>((resolve) => {
        req.once('response', (res) => resolve(`answered ${res.statusCode}`));
        req.once('error', (e) => resolve(`error ${e.message}`));
      });
      for (let offset = 0; offset < half; offset += 4 * 1024 * 1024) {
        if (!req.write(blob.subarray(offset, offset + 4 * 1024 * 1024))) await new Promise((r) => req.once('drain', r));
      }
      await new Promise((r) => setTimeout(r, 500));

      const exit = await reg.stop('SIGTERM', 30_000);
      t.diagnostic(`exit after ${exit.ms} ms; the stalled PATCH: ${await outcome}`);
      assert.equal(exit.signal, null, `killed by ${exit.signal}\n${reg.output().slice(-3000)}`);
      assert.equal(exit.code, 0, reg.output().slice(-3000));
      assert.ok(exit.ms >= 1800, `exited after ${exit.ms} ms: it did not wait for the request in flight`);
      assert.ok(exit.ms < 15_000, `exit took ${exit.ms} ms with a 2 s shutdown timeout`);
      assert.match(await outcome, /^error/, 'the stalled request was cut');

      await reg.restart();
      const head = await registryRequest(reg, 'HEAD', `/v2/${repo}/blobs/${digest}`);
      assert.equal(head.status, 404, `a partial blob is visible: ${head.describe}`);

      // The client's retry: ask where the session stands, send the rest, close it.
      const status = await registryRequest(reg, 'GET', location);
      let next = location;
      let offset = 0;
      if (status.status === 204) {
        // "0-0" is what the protocol says for an empty session (the cut chunk was not kept).
        const end = Number(/^0-(\d+)$/.exec(status.headers.get('range') ?? '')?.[1] ?? -2);
        offset = end === 0 ? 0 : end + 1;
        assert.ok(offset >= 0 && offset <= half, `resume offset ${offset}`);
        next = status.headers.get('location') ?? location;
      } else {
        assert.equal(status.status, 404, status.describe);
        const again = await registryRequest(reg, 'POST', `/v2/${repo}/blobs/uploads/`);
        next = again.headers.get('location')!;
      }
      t.diagnostic(`resuming at byte ${offset} of ${blob.length}`);
      const rest = await registryRequest(reg, 'PATCH', next, {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${blob.length - 1}` },
        body: blob.subarray(offset),
      });
      assert.equal(rest.status, 202, rest.describe);
      const close = new URL(rest.headers.get('location') ?? next, reg.url);
      close.searchParams.set('digest', digest);
      const put = await registryRequest(reg, 'PUT', close.pathname + close.search);
      assert.equal(put.status, 201, put.describe);
      const got = await registryRequest(reg, 'GET', `/v2/${repo}/blobs/${digest}`);
      assert.equal(got.status, 200);
      assert.equal(`sha256:${createHash('sha256').update(got.body).digest('hex')}`, digest);
    });
  });
});

