// Input PostgreSQL cannot store, sent to a real Berth process: a NUL byte or percent-encoded bytes
// that are not UTF-8 in every listing's paging, in names, tags, digests, upload ids and query
// parameters, and a NUL in a header. Each is a 400 with the OCI code of what it names, never a
// 500, and the process stays up.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startRegistry, type RegistryInstance } from '../helpers/berth-process.js';
import { describe as show, pushImage, send, Tally } from '../helpers/fault-http.js';

const NUL = '%00';
const NOT_UTF8 = '%C3%28';

/** [method, path, expected code] */
const CASES: [string, string, string][] = [];
for (const bad of [NUL, NOT_UTF8]) {
  CASES.push(
    ['GET', `/v2/_catalog?last=${bad}`, 'PAGINATION_NUMBER_INVALID'],
    ['GET', `/v2/_catalog?n=${bad}`, 'PAGINATION_NUMBER_INVALID'],
    ['GET', `/v2/faults/app/tags/list?last=${bad}`, 'PAGINATION_NUMBER_INVALID'],
    ['GET', `/v2/faults/app/tags/list?n=1&last=a${bad}b`, 'PAGINATION_NUMBER_INVALID'],
    ['GET', `/api/v1/repositories?last=${bad}`, 'REQUEST_INVALID'],
    ['GET', `/api/v1/repositories/faults/app/tags?last=${bad}`, 'REQUEST_INVALID'],
    ['GET', `/api/v1/repositories/faults/app/tags/a/history?before=${bad}`, 'REQUEST_INVALID'],
    ['GET', `/api/v1/repositories/faults/app/diff?from=a&to=${bad}`, 'REQUEST_INVALID'],
    ['GET', `/api/v1/repositories/fa${bad}ults/usage`, 'REQUEST_INVALID'],
    ['GET', `/v2/fa${bad}ults/app/manifests/a`, 'NAME_INVALID'],
    ['GET', `/v2/faults/app/manifests/a${bad}`, 'MANIFEST_INVALID'],
    ['HEAD', `/v2/faults/app/manifests/a${bad}`, ''],
    ['PUT', `/v2/faults/app/manifests/a?tag=${bad}`, 'MANIFEST_INVALID'],
    ['DELETE', `/v2/faults/app/manifests/sha256:${bad}`, 'MANIFEST_INVALID'],
    ['GET', `/v2/faults/app/blobs/sha256:${bad}`, 'DIGEST_INVALID'],
    ['GET', `/v2/faults/app/referrers/sha256:${bad}`, 'DIGEST_INVALID'],
    ['GET', `/v2/faults/app/referrers/sha256:${'0'.repeat(64)}?artifactType=${bad}`, 'REQUEST_INVALID'],
    ['POST', `/v2/faults/app/blobs/uploads/?mount=${bad}&from=faults/app`, 'DIGEST_INVALID'],
    ['POST', `/v2/faults/app/blobs/uploads/?mount=sha256:${'0'.repeat(64)}&from=x${bad}`, 'NAME_INVALID'],
    ['POST', `/v2/faults/app/blobs/uploads/?digest=${bad}`, 'DIGEST_INVALID'],
    ['GET', `/v2/faults/app/blobs/uploads/${bad}`, 'BLOB_UPLOAD_INVALID'],
    ['PATCH', `/v2/faults/app/blobs/uploads/x${bad}`, 'BLOB_UPLOAD_INVALID'],
    ['GET', `/v2/faults/app/tags/list?${bad}=1`, 'REQUEST_INVALID'],
  );
}

/** A request written as is on a raw socket (bytes no HTTP client would send): what comes back. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
    socket.setTimeout(30_000, () => socket.destroy(new Error('no answer')));
  });
}

describe('storage fault: bytes PostgreSQL cannot store', () => {
  let reg: RegistryInstance;
  const tally = new Tally();
  let exits = 0;

  before(async () => {
    reg = await startRegistry({ env: { BERTH_STORAGE: 'fs' } });
    const a = await pushImage(reg.url, 'faults/app', 'a', [Buffer.from('layer')], tally);
    assert.equal(a.status, 201, show(a));
  });

  after(async () => {
    if (!reg.running()) exits += 1;
    await reg.destroy();
    console.log(tally.summary('storage-bad-input', exits));
  });

  it('answers 400 with the matching code for a NUL byte or non-UTF-8 in every listing, name, tag, digest, upload id and parameter', async () => {
    const wrong: string[] = [];
    for (const [method, path, code] of CASES) {
      tally.faults += 1;
      const a = tally.note(await send(reg.url, method, path));
      const body = a.body.toString();
      if (a.status !== 400 || (code !== '' && !body.includes(`"code":"${code}"`))) wrong.push(`${method} ${path} → ${show(a)} (want 400 ${code})`);
    }
    assert.deepEqual(wrong, []);
    assert.equal(tally.count500, 0);
  });

  it('answers 400 to a raw NUL byte in a header or the URL, and keeps serving', async () => {
    for (const text of [
      'GET /v2/_catalog HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: a\u0000b\r\nConnection: close\r\n\r\n',
      'GET /v2/_catalog HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic a\u0000b\r\nConnection: close\r\n\r\n',
      'GET /v2/_catalog?last=a\u0000b HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
    ]) {
      tally.faults += 1;
      const answer = await rawRequest(reg.port, text);
      assert.match(answer, /^HTTP\/1\.1 400 /, JSON.stringify(text));
    }
    const catalog = tally.note(await send(reg.url, 'GET', '/v2/_catalog'));
    assert.equal(catalog.status, 200, show(catalog));
    assert.match(catalog.body.toString(), /faults\/app/);
    assert.ok(reg.running());
  });
});
