// The BlobStore contract against the S3 driver talking to s3rver, plus what only S3 has: the key
// layout, presigned URLs, the copy paths for servers without UploadPartCopy, error mapping and
// the start-up bucket check.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, UploadPartCommand, UploadPartCopyCommand, type S3Client } from '@aws-sdk/client-s3';
import { StorageUnavailableError, type UploadBackendState } from '../../src/storage/blob-store.js';
import { S3BlobStore } from '../../src/storage/s3/s3-blob-store.js';
import { createS3Client } from '../../src/storage/s3/s3-client.js';
import { checkBucket } from '../../src/storage/s3/check-bucket.js';
import { isUnavailable, toStorageError } from '../../src/storage/s3/s3-errors.js';
import { startS3rver, type TestS3 } from '../helpers/s3rver.js';
import { blobStoreContract, readAll, receive, sha256 } from './blob-store.contract.js';

const MiB = 1024 * 1024;

async function* one(bytes: Buffer): AsyncIterable<Buffer> {
  yield bytes;
}

async function listKeys(s3: TestS3, prefix = ''): Promise<string[]> {
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

function contractSubject(prefix: string, extra: { multipartCopyThreshold?: number; maxCopyObjectSize?: number } = {}) {
  return async () => {
    const s3 = await startS3rver();
    return {
      store: new S3BlobStore(s3.client, { bucket: s3.bucket, prefix, ...extra }),
      leftovers: async () => [...(await listKeys(s3, `${prefix}uploads/`)), ...(await s3.pendingMultipartUploads())],
      close: () => s3.stop(),
    };
  };
}

blobStoreContract('s3 (s3rver)', contractSubject('registry/'), { checksOffset: true, putsWholeBlobs: true, readsVia: 'object-get' });

// Past the multipart-copy threshold the commit probes UploadPartCopy, which s3rver lacks; past
// CopyObject's limit (lowered here) only the streamed copy is left.
blobStoreContract('s3 (s3rver, no UploadPartCopy, objects too large for CopyObject: streamed copy)', contractSubject('', { multipartCopyThreshold: MiB, maxCopyObjectSize: MiB }), {
  checksOffset: true,
  putsWholeBlobs: true,
  readsVia: 'object-get',
});

async function pushBlob(store: S3BlobStore, bytes: Buffer, piece = 64 * 1024): Promise<string> {
  const id = randomUUID();
  let state: UploadBackendState = await store.createUpload(id);
  let offset = 0;
  for (let at = 0; at < bytes.length; at += piece) {
    const r = await store.appendUpload(id, one(bytes.subarray(at, at + piece)), { offset, state });
    offset += r.written;
    state = r.state;
  }
  const digest = sha256(bytes);
  await store.commitUpload(id, digest, { size: offset, state });
  return digest;
}

describe('S3BlobStore on s3rver', { timeout: 120_000 }, () => {
  let s3: TestS3;
  let store: S3BlobStore;
  before(async () => {
    s3 = await startS3rver();
    store = new S3BlobStore(s3.client, { bucket: s3.bucket, prefix: 'berth' });
  });
  after(() => s3?.stop());

  it('keeps blobs at <prefix>blobs/<algorithm>/<first 2 hex>/<hex> and nothing else once committed', async () => {
    const digest = await pushBlob(store, randomBytes(7 * MiB), MiB);
    const hex = digest.slice('sha256:'.length);
    assert.ok((await listKeys(s3)).includes(`berth/blobs/sha256/${hex.slice(0, 2)}/${hex}`));
    assert.deepEqual(await listKeys(s3, 'berth/uploads/'), []);
  });

  it('keeps the tail of many tiny appends in a few objects', async () => {
    const id = randomUUID();
    let state: UploadBackendState = await store.createUpload(id);
    for (let i = 0; i < 300; i++) state = (await store.appendUpload(id, one(randomBytes(1024)), { offset: i * 1024, state })).state;
    const tail = (state as { tail: unknown[] }).tail;
    assert.ok(tail.length <= 12, `${tail.length} tail objects`);
    assert.equal((await listKeys(s3, `berth/uploads/${id}/`)).length >= tail.length, true);
    await store.abortUpload(id, state);
    assert.deepEqual(await listKeys(s3, `berth/uploads/${id}/`), []);
  });

  it('never commits a staging object completed from another state (a PUT retried with another last chunk)', async () => {
    const id = randomUUID();
    const head = randomBytes(9 * MiB);
    const [a, b] = [randomBytes(100), randomBytes(100)];
    const base = (await store.appendUpload(id, one(head), { offset: 0, state: await store.createUpload(id) })).state;
    const withA = (await store.appendUpload(id, one(a), { offset: head.length, state: base })).state;
    // Reading back completes the multipart upload from the state with `a`, as a commit would.
    await readAll(await store.readUpload(id, { length: head.length + 100, state: withA }));
    const withB = (await store.appendUpload(id, one(b), { offset: head.length, state: base })).state;
    const digestB = sha256(Buffer.concat([head, b]));
    await assert.rejects(store.commitUpload(id, digestB, { size: head.length + 100, state: withB }));
    assert.equal(await store.stat(digestB), undefined);
    // The state that was sealed still commits, without completing twice.
    const digestA = sha256(Buffer.concat([head, a]));
    await store.commitUpload(id, digestA, { size: head.length + 100, state: withA });
    assert.equal(sha256(await readAll((await store.read(digestA)).stream())), digestA);
  });

  it('presigns GET URLs that serve the blob, and a byte range when asked', async () => {
    const bytes = randomBytes(100_000);
    const digest = await pushBlob(store, bytes);
    const url = await store.presignGet(digest, { expiresIn: 60 });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/.*X-Amz-Signature=/);
    const whole = await fetch(url);
    assert.equal(whole.status, 200);
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), bytes);
    const ranged = await fetch(await store.presignGet(digest, { expiresIn: 60, range: { start: 10, end: 19 } }), {
      headers: { Range: 'bytes=10-19' },
    });
    assert.equal(ranged.status, 206);
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), bytes.subarray(10, 20));
  });

  it('reads a blob, or a range of it, as a body for a response through the reused-buffer client; a missing one is BlobNotFoundError', async () => {
    const bytes = randomBytes(2 * MiB + 5);
    const digest = await pushBlob(store, bytes);
    const whole = await store.read(digest);
    assert.equal(whole.via, 'object-get');
    assert.equal(whole.length, bytes.length);
    assert.ok((await receive(whole)).equals(bytes));
    const part = await store.read(digest, { range: { start: MiB - 3, end: MiB + 99 } });
    assert.equal(part.via, 'object-get');
    assert.equal(part.length, 103);
    assert.ok((await receive(part)).equals(bytes.subarray(MiB - 3, MiB + 100)));
    const missing = sha256(randomBytes(8));
    await assert.rejects(store.read(missing), { name: 'BlobNotFoundError' });
  });

  it('streams a read blob that can be cancelled with an AbortSignal', async () => {
    const digest = await pushBlob(store, randomBytes(3 * MiB), MiB);
    const controller = new AbortController();
    const body = (await store.read(digest, { signal: controller.signal })).stream();
    controller.abort();
    await assert.rejects(readAll(body));
  });

  it('streams a read blob that its reader leaves early, and serves the next read whole', async () => {
    const bytes = randomBytes(3 * MiB);
    const digest = await pushBlob(store, bytes, MiB);
    const stream = (await store.read(digest)).stream();
    for await (const chunk of stream) {
      assert.ok((chunk as Buffer).length > 0);
      break;
    }
    assert.ok(stream.destroyed);
    assert.ok((await receive(await store.read(digest))).equals(bytes));
  });
});

/**
 * A client whose server "has" UploadPartCopy: the shim does it as GetObject(range) + UploadPart,
 * so the multipart-copy path AWS and MinIO take runs against s3rver too. Counts the copies.
 */
function withPartCopy(client: S3Client): { client: S3Client; copies: () => number } {
  let copies = 0;
  const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
  const shim = new Proxy(client, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver) as unknown;
      return async (command: unknown) => {
        if (!(command instanceof UploadPartCopyCommand)) return send(command);
        copies += 1;
        const { CopySource, CopySourceRange, Bucket, Key, UploadId, PartNumber } = command.input;
        const [, ...key] = (CopySource ?? '').split('/').map(decodeURIComponent);
        const source = (await send(new GetObjectCommand({ Bucket, Key: key.join('/'), Range: CopySourceRange }))) as { Body: Readable };
        const body = await readAll(source.Body);
        const part = (await send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: body }))) as { ETag: string };
        return { CopyPartResult: { ETag: part.ETag } };
      };
    },
  });
  return { client: shim, copies: () => copies };
}

describe('S3BlobStore with UploadPartCopy (AWS, MinIO)', { timeout: 120_000 }, () => {
  let s3: TestS3;
  after(() => s3?.stop());

  it('moves a blob above the threshold by parallel UploadPartCopy, bytes intact', async () => {
    s3 = await startS3rver();
    const shim = withPartCopy(s3.client);
    const store = new S3BlobStore(shim.client, { bucket: s3.bucket, multipartCopyThreshold: 8 * MiB, copyPartSize: 5 * MiB });
    const bytes = randomBytes(23 * MiB + 17);
    const digest = await pushBlob(store, bytes, 3 * MiB);
    // One probe, then ceil(23 MiB / 5 MiB) = 5 parts.
    assert.equal(shim.copies(), 6);
    assert.deepEqual(await store.stat(digest), { size: bytes.length });
    assert.equal(sha256(await readAll((await store.read(digest)).stream())), digest);
    assert.deepEqual(await listKeys(s3, 'uploads/'), []);
  });
});

describe('S3 errors and the start-up bucket check', { timeout: 60_000 }, () => {
  let s3: TestS3;
  before(async () => {
    s3 = await startS3rver();
  });
  after(() => s3?.stop());

  it('stops start-up with a clear message when the bucket is missing, or creates it when asked', async () => {
    const bucket = `missing-${randomBytes(4).toString('hex')}`;
    await assert.rejects(checkBucket(s3.client, bucket, { create: false }), /does not exist.*BERTH_S3_CREATE_BUCKET=true/);
    assert.equal(await checkBucket(s3.client, bucket, { create: true }), 'created');
    assert.equal(await checkBucket(s3.client, bucket, { create: false }), 'exists');
  });

  it('maps an unreachable endpoint to StorageUnavailableError, at start-up and on reads', async () => {
    const client = createS3Client({ endpoint: 'http://127.0.0.1:9', forcePathStyle: true, credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, maxAttempts: 1 });
    try {
      await assert.rejects(checkBucket(client, 'any-bucket', { create: false }), StorageUnavailableError);
      const store = new S3BlobStore(client, { bucket: 'any-bucket' });
      await assert.rejects(store.stat(sha256(Buffer.from('x'))), StorageUnavailableError);
      await assert.rejects(store.read(sha256(Buffer.from('x'))), StorageUnavailableError);
      await assert.rejects(store.ping(), StorageUnavailableError);
    } finally {
      client.destroy();
    }
  });

  it('refuses a range answered with other bytes than asked (a server that ignores Range), and keeps serving', async () => {
    // An S3-compatible server that answers every GET with the whole 10-byte object, 200.
    const server = createServer((req, res) => {
      res.writeHead(200, { 'Content-Length': '10', 'Content-Type': 'application/octet-stream' });
      res.end(req.method === 'HEAD' ? undefined : Buffer.from('0123456789'));
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    const client = createS3Client({ endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    try {
      const store = new S3BlobStore(client, { bucket: 'b' });
      const digest = sha256(Buffer.from('0123456789'));
      await assert.rejects(store.read(digest, { range: { start: 2, end: 4 } }), /answered 10 bytes .* 3 expected/);
      assert.equal((await readAll((await store.read(digest)).stream())).toString(), '0123456789');
      assert.equal((await receive(await store.read(digest))).toString(), '0123456789');
    } finally {
      client.destroy();
      server.closeAllConnections();
      server.close();
    }
  });

  it('asks a GET that S3 refused again through the SDK: a 503 once is retried, a lasting 503 is unavailable', async () => {
    // An S3-compatible server that throttles the first `refusals` GETs, then serves a 10-byte object.
    const bytes = Buffer.from('0123456789');
    let refusals = 0;
    const seen: ('presigned' | 'signed')[] = [];
    const server = createServer((req, res) => {
      seen.push(new URL(req.url ?? '/', 'http://x').searchParams.has('X-Amz-Signature') ? 'presigned' : 'signed');
      if (refusals > 0) {
        refusals -= 1;
        res.writeHead(503, { 'Content-Type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>');
        return;
      }
      res.writeHead(200, { 'Content-Length': '10', 'Content-Type': 'application/octet-stream' });
      res.end(req.method === 'HEAD' ? undefined : bytes);
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    const client = createS3Client({ endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, maxAttempts: 2 });
    try {
      const store = new S3BlobStore(client, { bucket: 'b' });
      const digest = sha256(bytes);
      // Refused to the reused-buffer client and to undici (both presigned): the SDK asks again.
      refusals = 2;
      const retried = await store.read(digest, { size: bytes.length });
      assert.equal(retried.via, 'stream');
      assert.equal((await receive(retried)).toString(), '0123456789');
      assert.deepEqual(seen, ['presigned', 'presigned', 'signed']);

      seen.length = 0;
      refusals = 4;
      await assert.rejects(store.read(digest, { size: bytes.length }), StorageUnavailableError);
      assert.deepEqual(seen, ['presigned', 'presigned', 'signed', 'signed']);

      // The reused-buffer client takes only a 2xx; a refusal there is asked again as a stream,
      // which refuses a range answered whole too.
      seen.length = 0;
      refusals = 1;
      const streamed = await store.read(digest, { size: bytes.length });
      assert.equal(streamed.via, 'stream');
      assert.equal((await receive(streamed)).toString(), '0123456789');
      const sent = await store.read(digest, { size: bytes.length });
      assert.equal(sent.via, 'object-get');
      assert.equal((await receive(sent)).toString(), '0123456789');
      assert.deepEqual(seen, ['presigned', 'presigned', 'presigned']);
      refusals = 1;
      await assert.rejects(store.read(digest, { range: { start: 2, end: 4 } }), /answered 10 bytes .* 3 expected/);

      // Without the size from the caller, a streamed read asks S3 for it.
      seen.length = 0;
      refusals = 1;
      const sized = await store.read(digest);
      assert.equal(sized.length, 10);
      assert.equal((await readAll(sized.stream())).toString(), '0123456789');
      assert.deepEqual(seen, ['presigned', 'presigned', 'signed']);
    } finally {
      client.destroy();
      server.closeAllConnections();
      server.close();
    }
  });

  it('ping rejects when the bucket is gone (readiness fails)', async () => {
    const store = new S3BlobStore(s3.client, { bucket: `gone-${randomBytes(4).toString('hex')}` });
    await assert.rejects(store.ping());
  });

  it('classifies throttling, 5xx and socket errors as unavailable, and not-found or 4xx as not', () => {
    const sdk = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
    for (const err of [sdk('SlowDown', 503), sdk('ServiceUnavailable', 503), sdk('InternalError', 500), sdk('NoSuchBucket', 404)]) {
      assert.ok(isUnavailable(err), err.name);
      const mapped = toStorageError(err, 'test');
      assert.ok(mapped instanceof StorageUnavailableError, err.name);
      assert.equal(mapped.cause, err);
    }
    assert.equal((toStorageError(sdk('SlowDown', 503), 't') as StorageUnavailableError).retryAfterSeconds, 10);
    for (const code of ['ECONNREFUSED', 'ETIMEDOUT', 'ECONNRESET']) assert.ok(isUnavailable(Object.assign(new Error(code), { code })), code);
    assert.ok(isUnavailable(new Error('socket hang up')));
    for (const err of [sdk('NoSuchKey', 404), sdk('NotFound', 404), sdk('AccessDenied', 403), sdk('NotImplemented', 501)]) {
      assert.equal(isUnavailable(err), false, err.name);
      assert.equal(toStorageError(err, 'test'), err);
    }
  });
});
