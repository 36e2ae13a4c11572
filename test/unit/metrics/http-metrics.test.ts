// httpMetrics counts a request when its response ends, not when the middleware chain returns: a
// handler that writes the response itself may still be cleaning up (closing a file) afterwards.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Koa from 'koa';
import { httpMetrics } from '../../../src/metrics/http-metrics.js';
import { Metrics } from '../../../src/metrics/metrics.js';

const BLOB_ROUTE = '/v2/{name}/blobs/{digest}';

describe('httpMetrics', () => {
  const metrics = new Metrics({ processMetrics: false });
  let server: http.Server;
  let port: number;
  let releaseChain: () => void = () => {};
  let releaseUpload: (() => void) | undefined;
  let uploadReturned = false;
  let chainReturned = false;

  before(async () => {
    const app = new Koa();
    app.silent = true; // the aborted upload's parse error is expected
    app.use(httpMetrics(metrics));
    app.use(async (ctx) => {
      if (ctx.path.startsWith('/v2/a/b/blobs/uploads/')) {
        // An upload whose client goes away: the handler ends with its own status afterwards.
        await new Promise((resolve) => ctx.req.once('close', resolve));
        await new Promise<void>((resolve) => (releaseUpload = resolve));
        ctx.status = 400;
        uploadReturned = true;
        return;
      }
      // As the blob GET does: the body goes out on ctx.res, then the handler keeps working.
      ctx.respond = false;
      ctx.res.writeHead(200, { 'Content-Length': '5' });
      ctx.res.end('hello');
      await new Promise<void>((resolve) => (releaseChain = resolve));
      chainReturned = true;
    });
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    releaseChain();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const requests = async (route: string, status: string) =>
    (await metrics.httpRequests.get()).values.find((v) => v.labels.route === route && v.labels.status === status)?.value ?? 0;
  const counted = () => requests(BLOB_ROUTE, '200');
  const until = async (what: () => boolean | Promise<boolean>) => {
    for (let i = 0; i < 100 && !(await what()); i++) await new Promise((r) => setTimeout(r, 10));
  };
  const sentBytes = async () => (await metrics.bytesSent.get()).values.find((v) => v.labels.route === BLOB_ROUTE)?.value ?? 0;

  it('counts a response the handler ended itself while the chain is still running, once', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: `/v2/a/b/blobs/sha256:${'0'.repeat(64)}`, agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    assert.equal(body, 'hello');
    // The response has ended; its 'close' comes within a few loop turns, the chain never returns.
    await until(async () => (await counted()) > 0);
    assert.equal(chainReturned, false);
    assert.equal(await counted(), 1);
    assert.ok((await sentBytes()) > 5, `sent bytes ${await sentBytes()}`);

    releaseChain();
    await until(() => chainReturned);
    assert.equal(chainReturned, true);
    assert.equal(await counted(), 1);
  });

  it('counts an upload whose client went away as 499 at once, not with a status set after it left', async () => {
    const uploads = '/v2/{name}/blobs/uploads/{uuid}';
    const inFlight = async () => (await metrics.uploadsInFlight.get()).values[0]?.value;
    const req = http.request({ host: '127.0.0.1', port, method: 'PATCH', path: '/v2/a/b/blobs/uploads/u1', agent: false });
    req.on('error', () => {});
    req.write('partial');
    await until(async () => (await inFlight()) === 1);
    assert.equal(await inFlight(), 1);
    req.destroy();
    await until(async () => (await requests(uploads, '499')) > 0);
    assert.equal(await requests(uploads, '499'), 1);
    assert.equal(await inFlight(), 0);
    await until(() => releaseUpload !== undefined);
    releaseUpload!();
    await until(() => uploadReturned);
    assert.equal(uploadReturned, true);
    await new Promise((r) => setImmediate(r));
    assert.equal(await requests(uploads, '400'), 0);
    assert.equal(await requests(uploads, '404'), 0);
    assert.equal(await requests(uploads, '499'), 1);
  });
});
