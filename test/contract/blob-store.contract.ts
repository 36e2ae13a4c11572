// The BlobStore contract: one node:test suite every driver must pass (fs, s3). Upload state is
// sent through JSON between calls, as the uploads row in PostgreSQL would carry it.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { BlobNotFoundError, type BlobBody, type BlobContent, type BlobStore, type ByteRange, type UploadBackendState } from '../../src/storage/blob-store.js';

export interface ContractSubject {
  store: BlobStore;
  /** Everything staged uploads left behind (files, objects, multipart uploads); [] when clean. */
  leftovers(): Promise<string[]>;
  close(): Promise<void>;
}

export interface ContractOptions {
  /** The driver checks `offset` against its state and throws on a mismatch (fs truncates instead). */
  checksOffset: boolean;
  /**
   * Whether putBlob is offered on this backend (S3 only where AbortMultipartUpload works); the
   * suite checks canPutBlob says so either way.
   */
  putsWholeBlobs: boolean;
  /** putBlob writes through the upload's staging area, so a cancelled upload fails it (fs). */
  putBlobNeedsUpload?: boolean;
  /** How the driver's reads send a blob: its fast path (fs: the open file; S3: the reused-buffer object client). */
  readsVia: BlobContent['via'];
}

const KiB = 1024;
const MiB = 1024 * KiB;

export function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** What a client receives when `body` is sent into a response, as the blob route sends it. */
export async function receive(body: BlobBody): Promise<Buffer> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Length': body.length });
    void body.sendTo(res);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    return Buffer.from(await res.arrayBuffer());
  } finally {
    server.close();
  }
}

/** As the uploads row would give it back. */
function viaJson(state: UploadBackendState): UploadBackendState {
  return JSON.parse(JSON.stringify(state)) as UploadBackendState;
}

/** `bytes` as a request body arriving in pieces of `piece` bytes. */
async function* pieces(bytes: Buffer, piece = 64 * KiB): AsyncIterable<Buffer> {
  for (let at = 0; at < bytes.length; at += piece) yield bytes.subarray(at, at + piece);
}

/** A client that disconnects after sending `bytes`. */
async function* failingAfter(bytes: Buffer): AsyncIterable<Buffer> {
  yield* pieces(bytes);
  throw new Error('client went away');
}

class Upload {
  readonly id = randomUUID();
  state: UploadBackendState = null;
  offset = 0;
  constructor(private readonly store: BlobStore) {}

  async start(): Promise<this> {
    this.state = viaJson(await this.store.createUpload(this.id));
    return this;
  }

  /** `announce`: the request told its length (Content-Length), as most clients' chunks do. */
  async append(bytes: Buffer, piece?: number, announce = false): Promise<void> {
    const options = { offset: this.offset, state: this.state, ...(announce ? { length: bytes.length } : {}) };
    const result = await this.store.appendUpload(this.id, pieces(bytes, piece), options);
    assert.equal(result.written, bytes.length);
    this.offset += result.written;
    this.state = viaJson(result.state);
  }

  async commit(digest: string): Promise<void> {
    await this.store.commitUpload(this.id, digest, { size: this.offset, state: this.state });
  }
}

export function blobStoreContract(name: string, factory: () => Promise<ContractSubject>, options: ContractOptions): void {
  describe(`BlobStore contract: ${name}`, { timeout: 180_000 }, () => {
    let subject: ContractSubject;
    let store: BlobStore;
    before(async () => {
      subject = await factory();
      store = subject.store;
    });
    after(() => subject?.close());

    /** The blob's bytes (or the range's) both ways a read gives them: sent as to a client, and streamed. */
    async function readBoth(digest: string, range?: ByteRange): Promise<Buffer> {
      const content = await store.read(digest, { range });
      assert.equal(content.via, options.readsVia, 'the read takes the fast path of the driver');
      const sent = await receive(content);
      assert.equal(sent.length, content.length);
      const streamed = await readAll((await store.read(digest, { range })).stream());
      assert.deepEqual(streamed, sent, 'streamed and sent bytes differ');
      return sent;
    }

    async function assertBlob(digest: string, bytes: Buffer): Promise<void> {
      assert.deepEqual(await store.stat(digest), { size: bytes.length });
      const back = await readBoth(digest);
      assert.equal(back.length, bytes.length);
      assert.equal(sha256(back), digest);
    }

    async function push(parts: Buffer[], piece?: number): Promise<{ digest: string; bytes: Buffer }> {
      const bytes = Buffer.concat(parts);
      const digest = sha256(bytes);
      const upload = await new Upload(store).start();
      for (const part of parts) await upload.append(part, piece);
      await upload.commit(digest);
      return { digest, bytes };
    }

    it('ping resolves on a working store (readiness)', async () => {
      await store.ping();
    });

    it('stat and read answer undefined and BlobNotFoundError for a blob never stored', async () => {
      const digest = sha256(randomBytes(16));
      assert.equal(await store.stat(digest), undefined);
      await assert.rejects(store.read(digest), BlobNotFoundError);
    });

    it('stores a blob in one append and serves it whole and by byte range', async () => {
      const { digest, bytes } = await push([randomBytes(300 * KiB)]);
      await assertBlob(digest, bytes);
      const middle = await readBoth(digest, { start: 1000, end: 70_000 });
      assert.deepEqual(middle, bytes.subarray(1000, 70_001));
      const last = await readBoth(digest, { start: bytes.length - 1, end: bytes.length - 1 });
      assert.deepEqual(last, bytes.subarray(bytes.length - 1));
      assert.deepEqual(await subject.leftovers(), []);
    });

    it('stores a zero-byte blob with no append at all, and with one empty append', async () => {
      const empty = Buffer.alloc(0);
      const digest = sha256(empty);
      const upload = await new Upload(store).start();
      await upload.commit(digest);
      await assertBlob(digest, empty);
      await store.delete(digest);
      const again = await new Upload(store).start();
      await again.append(empty);
      await again.commit(digest);
      await assertBlob(digest, empty);
    });

    it('deletes a blob: stat undefined, read BlobNotFoundError, deleting again is fine', async () => {
      const { digest } = await push([randomBytes(10 * KiB)]);
      await store.delete(digest);
      assert.equal(await store.stat(digest), undefined);
      await assert.rejects(store.read(digest), BlobNotFoundError);
      await store.delete(digest);
    });

    it('stores a blob sent as many 1 KiB appends', async () => {
      const chunks = Array.from({ length: 300 }, () => randomBytes(KiB));
      const { digest, bytes } = await push(chunks);
      await assertBlob(digest, bytes);
      assert.deepEqual(await subject.leftovers(), []);
    });

    it('stores a blob of mixed appends crossing the 5 MiB part minimum (1 KiB, 6 MiB, 3 MiB, 10 B, 9 MiB)', async () => {
      const sizes = [KiB, 6 * MiB, 3 * MiB, 10, 9 * MiB];
      const { digest, bytes } = await push(sizes.map((n) => randomBytes(n)));
      await assertBlob(digest, bytes);
      const range = { start: 6 * MiB - 7, end: 9 * MiB + 20 };
      assert.deepEqual(await readBoth(digest, range), bytes.subarray(range.start, range.end + 1));
      assert.deepEqual(await subject.leftovers(), []);
    });

    it('takes a 20 MiB append arriving as one single chunk', async () => {
      const bytes = randomBytes(20 * MiB);
      const { digest } = await push([bytes], bytes.length);
      await assertBlob(digest, bytes);
    });

    it('reads back staged bytes before commit (whole and a prefix), and still commits afterwards', async () => {
      for (const sizes of [[3 * KiB, 20 * KiB], [KiB, 6 * MiB, 10, 2 * MiB]]) {
        const parts = sizes.map((n) => randomBytes(n));
        const bytes = Buffer.concat(parts);
        const upload = await new Upload(store).start();
        for (const part of parts) await upload.append(part);
        const head = await readAll(await store.readUpload(upload.id, { length: bytes.length - 10, state: upload.state }));
        assert.deepEqual(head, bytes.subarray(0, bytes.length - 10));
        const whole = await readAll(await store.readUpload(upload.id, { length: bytes.length, state: upload.state }));
        assert.equal(sha256(whole), sha256(bytes));
        await upload.commit(sha256(bytes));
        await assertBlob(sha256(bytes), bytes);
      }
      assert.deepEqual(await subject.leftovers(), []);
    });

    it('commits an upload whose blob is already stored, keeping one copy and no staging', async () => {
      const parts = [randomBytes(6 * MiB), randomBytes(100)];
      const first = await push(parts);
      const second = await push(parts);
      assert.equal(second.digest, first.digest);
      await assertBlob(first.digest, first.bytes);
      const small = await push([randomBytes(500)]);
      await push([small.bytes]);
      await assertBlob(small.digest, small.bytes);
      assert.deepEqual(await subject.leftovers(), []);
    });

    it('aborting leaves nothing behind, whatever was staged', async () => {
      for (const sizes of [[], [KiB], [KiB, 9 * MiB, 7]]) {
        const upload = await new Upload(store).start();
        for (const n of sizes) await upload.append(randomBytes(n));
        await store.abortUpload(upload.id, upload.state);
        assert.deepEqual(await subject.leftovers(), [], `after aborting an upload of ${sizes.join('+')} bytes`);
      }
      const sealed = await new Upload(store).start();
      await sealed.append(randomBytes(6 * MiB));
      await sealed.append(randomBytes(10));
      await readAll(await store.readUpload(sealed.id, { length: sealed.offset, state: sealed.state }));
      await store.abortUpload(sealed.id, sealed.state);
      assert.deepEqual(await subject.leftovers(), [], 'after aborting an upload that was read back');
    });

    // Only for stores that keep their own record of the staged size; the fs driver instead cuts
    // the file to the offset it is given (how it drops bytes an interrupted request left).
    if (options.checksOffset) it('refuses an append at an offset other than the staged size', async () => {
      const upload = await new Upload(store).start();
      await upload.append(randomBytes(2 * KiB));
      const attempt = (offset: number) => store.appendUpload(upload.id, pieces(randomBytes(10)), { offset, state: upload.state });
      await assert.rejects(attempt(KiB));
      await assert.rejects(attempt(3 * KiB));
      await store.abortUpload(upload.id, upload.state);
    });

    it('a request failing midway leaves the previous state usable: the retry at the same offset wins', async () => {
      const upload = await new Upload(store).start();
      const head = randomBytes(6 * MiB + 3);
      await upload.append(head);
      // Fails after a whole part and a partial one went out; then a tiny append fails too.
      const garbage = randomBytes(9 * MiB);
      await assert.rejects(
        store.appendUpload(upload.id, failingAfter(garbage), { offset: upload.offset, state: upload.state }),
        /client went away/,
      );
      await assert.rejects(
        store.appendUpload(upload.id, failingAfter(randomBytes(100)), { offset: upload.offset, state: upload.state }),
        /client went away/,
      );
      const rest = randomBytes(9 * MiB + 5);
      await upload.append(rest);
      const bytes = Buffer.concat([head, rest]);
      await upload.commit(sha256(bytes));
      await assertBlob(sha256(bytes), bytes);
      assert.deepEqual(await subject.leftovers(), []);
    });

    it('stores appends that announce their length alike, aligned to parts or not, several parts at a time', async () => {
      const parts = [randomBytes(8 * MiB), randomBytes(8 * MiB), randomBytes(6 * MiB + 7), randomBytes(17 * MiB + 1), randomBytes(3)];
      const bytes = Buffer.concat(parts);
      const upload = await new Upload(store).start();
      for (const part of parts) await upload.append(part, 64 * KiB, true);
      await upload.commit(sha256(bytes));
      await assertBlob(sha256(bytes), bytes);
      assert.deepEqual(await subject.leftovers(), []);
    });

    it('an append that brings fewer bytes than it announced keeps what came, failing or not; the upload goes on', async () => {
      const upload = await new Upload(store).start();
      const head = randomBytes(8 * MiB);
      await upload.append(head, undefined, true);
      // The client goes away 1.5 parts into an announced 3 parts: nothing of it counts.
      await assert.rejects(
        store.appendUpload(upload.id, failingAfter(randomBytes(12 * MiB)), { offset: upload.offset, state: upload.state, length: 24 * MiB }),
        /client went away/,
      );
      // A body that ends early without an error: the store takes what arrived (the service then
      // answers 400 and the session stays where the store says).
      const short = randomBytes(11 * MiB);
      const result = await store.appendUpload(upload.id, pieces(short), { offset: upload.offset, state: upload.state, length: 16 * MiB });
      assert.equal(result.written, short.length);
      upload.offset += result.written;
      upload.state = viaJson(result.state);
      const rest = randomBytes(9 * MiB + 5);
      await upload.append(rest, undefined, true);
      const bytes = Buffer.concat([head, short, rest]);
      await upload.commit(sha256(bytes));
      await assertBlob(sha256(bytes), bytes);
      assert.deepEqual(await subject.leftovers(), []);
    });

    it('continues an upload from its state alone, as another replica would', async () => {
      const parts = [randomBytes(2 * MiB), randomBytes(4 * MiB), randomBytes(KiB)];
      const bytes = Buffer.concat(parts);
      const upload = await new Upload(store).start();
      for (const part of parts) {
        // Each step starts from nothing but the id, the offset and the JSON state.
        const saved = JSON.stringify({ id: upload.id, offset: upload.offset, state: upload.state });
        const row = JSON.parse(saved) as { id: string; offset: number; state: UploadBackendState };
        const result = await store.appendUpload(row.id, pieces(part), { offset: row.offset, state: row.state });
        upload.offset = row.offset + result.written;
        upload.state = viaJson(result.state);
      }
      await upload.commit(sha256(bytes));
      await assertBlob(sha256(bytes), bytes);
    });

    it(`canPutBlob is ${options.putsWholeBlobs}`, async () => {
      assert.equal((await store.canPutBlob?.()) ?? false, options.putsWholeBlobs);
    });

    if (options.putsWholeBlobs) {
      const putWhole = (upload: Upload, bytes: Buffer, digest: string, verify: (size: number) => void = () => {}, length?: number) =>
        store.putBlob!(digest, pieces(bytes), { uploadId: upload.id, verify, ...(length === undefined ? {} : { length }) });

      it('putBlob takes a whole blob in one pass: served whole, nothing left staged', async () => {
        for (const size of [0, 300, 3 * MiB + 1]) {
          const bytes = randomBytes(size);
          const upload = await new Upload(store).start();
          let verified = -1;
          assert.equal(await putWhole(upload, bytes, sha256(bytes), (n) => (verified = n)), size);
          assert.equal(verified, size, 'verify saw every byte');
          await assertBlob(sha256(bytes), bytes);
        }
        assert.deepEqual(await subject.leftovers(), []);
      });

      it('putBlob with the announced length stores blobs of several parts, a multiple of the part size or not', async () => {
        for (const size of [16 * MiB, 21 * MiB + 3]) {
          const bytes = randomBytes(size);
          const upload = await new Upload(store).start();
          assert.equal(await putWhole(upload, bytes, sha256(bytes), undefined, size), size);
          await assertBlob(sha256(bytes), bytes);
        }
        assert.deepEqual(await subject.leftovers(), []);
      });

      it('putBlob whose verify throws stores nothing under the digest; aborting leaves nothing staged', async () => {
        const bytes = randomBytes(2 * MiB);
        const claimed = sha256(randomBytes(10));
        const upload = await new Upload(store).start();
        await assert.rejects(
          putWhole(upload, bytes, claimed, () => {
            throw new Error('digest mismatch');
          }),
          /digest mismatch/,
        );
        assert.equal(await store.stat(claimed), undefined);
        await assert.rejects(store.read(claimed), BlobNotFoundError);
        await store.abortUpload(upload.id, upload.state);
        assert.deepEqual(await subject.leftovers(), []);
      });

      it('putBlob after a failed append still stores exactly the blob', async () => {
        const upload = await new Upload(store).start();
        await assert.rejects(
          store.appendUpload(upload.id, failingAfter(randomBytes(KiB)), { offset: 0, state: upload.state }),
          /client went away/,
        );
        const bytes = randomBytes(700);
        await putWhole(upload, bytes, sha256(bytes));
        await assertBlob(sha256(bytes), bytes);
        // What the failed append staged goes with the upload (the service's commit does this).
        await store.abortUpload(upload.id, upload.state);
        assert.deepEqual(await subject.leftovers(), []);
      });
    }

    if (options.putBlobNeedsUpload) it('putBlob on a cancelled upload fails with BlobNotFoundError and stores nothing', async () => {
      const bytes = randomBytes(500);
      const upload = await new Upload(store).start();
      await store.abortUpload(upload.id, upload.state);
      await assert.rejects(store.putBlob!(sha256(bytes), pieces(bytes), { uploadId: upload.id, verify: () => {} }), BlobNotFoundError);
      assert.equal(await store.stat(sha256(bytes)), undefined);
      assert.deepEqual(await subject.leftovers(), []);
    });
  });
}
