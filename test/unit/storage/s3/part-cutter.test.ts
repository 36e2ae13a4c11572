// PartCutter on its own: which parts go out when, streamed or from memory. The S3 side of it runs
// in the blob-store contract on s3rver; here the uploads are functions that record what they got.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { PartCutter, type PartCutterOptions } from '../../../../src/storage/s3/part-cutter.js';

const PART = 64 * 1024;
const PIECE = 4 * 1024;

interface Sent {
  n: number;
  how: 'memory' | 'stream';
  bytes: Buffer;
  /** Bytes the cutter had been given when this upload started. */
  startedAfter: number;
}

function recorder(options: { failStreams?: boolean; slowFirst?: boolean } = {}) {
  const sent: Sent[] = [];
  const aborted: number[] = [];
  let given = 0;
  const o: PartCutterOptions = {
    partSize: PART,
    firstPart: 1,
    lastPart: 100,
    prefix: 0,
    loadPrefix: async () => {},
    upload: async (n, body) => {
      sent.push({ n, how: 'memory', bytes: Buffer.from(body), startedAfter: given });
      return `etag-${n}-memory`;
    },
    uploadStream: async (n, body: Readable, size, signal) => {
      const startedAfter = given;
      const chunks: Buffer[] = [];
      try {
        for await (const chunk of body) {
          if (signal.aborted) break;
          chunks.push(chunk as Buffer);
        }
      } catch {
        // destroyed by the cutter
      }
      if (signal.aborted) {
        aborted.push(n);
        throw new Error('aborted');
      }
      const bytes = Buffer.concat(chunks);
      assert.equal(bytes.length, size, 'a streamed part carries exactly its size');
      if (options.slowFirst && n === 1) await new Promise((r) => setTimeout(r, 50));
      if (options.failStreams) throw new Error('503 from S3');
      sent.push({ n, how: 'stream', bytes, startedAfter });
      return `etag-${n}-stream`;
    },
  };
  return {
    sent,
    aborted,
    cutter: new PartCutter(o),
    async write(cutter: PartCutter, bytes: Buffer): Promise<void> {
      for (let at = 0; at < bytes.length; at += PIECE) {
        await cutter.write(bytes.subarray(at, at + PIECE));
        given += Math.min(PIECE, bytes.length - at);
      }
    },
  };
}

/** Writes `bytes` (announcing `announce` first, if given) and waits for every upload. */
async function cut(r: ReturnType<typeof recorder>, bytes: Buffer, announce?: number): Promise<void> {
  if (announce !== undefined) r.cutter.announce(announce);
  await r.write(r.cutter, bytes);
  await r.cutter.settle();
}

/** Which part went how, in the order the uploads finished: ['1:stream', '2:memory', …]. */
const how = (r: ReturnType<typeof recorder>) => r.sent.map((s) => `${s.n}:${s.how}`);

describe('PartCutter', () => {
  it('starts the upload of a part the announced length will fill with its first bytes', async () => {
    const r = recorder();
    const bytes = randomBytes(2 * PART + 100);
    await cut(r, bytes, bytes.length);
    assert.deepEqual(how(r), ['1:stream', '2:stream']);
    assert.ok(r.sent[0]!.startedAfter < PART / 2, `part 1 started after ${r.sent[0]!.startedAfter} bytes`);
    assert.ok(r.sent[1]!.startedAfter < PART + PART / 2, `part 2 started after ${r.sent[1]!.startedAfter} bytes`);
    assert.deepEqual(Buffer.concat(r.sent.map((s) => s.bytes)), bytes.subarray(0, 2 * PART));
    assert.deepEqual(r.cutter.parts, [
      { n: 1, etag: 'etag-1-stream', size: PART },
      { n: 2, etag: 'etag-2-stream', size: PART },
    ]);
    // The 100 bytes that fill no part stay with the caller.
    assert.deepEqual(r.cutter.remainder(), bytes.subarray(2 * PART));
    r.cutter.release();
  });

  it('uploads each part only once it is full when no length was announced', async () => {
    const r = recorder();
    const bytes = randomBytes(2 * PART);
    await cut(r, bytes);
    assert.deepEqual(how(r), ['1:memory', '2:memory']);
    assert.ok(r.sent[0]!.startedAfter >= PART - PIECE);
    assert.deepEqual(Buffer.concat(r.sent.map((s) => s.bytes)), bytes);
  });

  it('uploads a part again from memory when its streamed upload fails', async () => {
    const r = recorder({ failStreams: true });
    const bytes = randomBytes(2 * PART);
    await cut(r, bytes, bytes.length);
    assert.deepEqual(how(r), ['1:memory', '2:memory']);
    assert.deepEqual(Buffer.concat(r.sent.map((s) => s.bytes)), bytes);
    assert.deepEqual(
      r.cutter.parts.map((p) => p.etag),
      ['etag-1-memory', 'etag-2-memory'],
    );
  });

  it('records parts in their order when a later one finishes first', async () => {
    const r = recorder({ slowFirst: true });
    const bytes = randomBytes(3 * PART);
    await cut(r, bytes, bytes.length);
    assert.deepEqual(
      r.cutter.parts.map((p) => p.n),
      [1, 2, 3],
    );
  });

  it('cancels the streamed part when fewer bytes come than announced, and reuses its number', async () => {
    const r = recorder();
    const bytes = randomBytes(PART + PART / 2);
    await cut(r, bytes, 3 * PART);
    assert.deepEqual(r.aborted, [2]);
    assert.deepEqual(
      r.cutter.parts.map((p) => [p.n, p.etag]),
      [[1, 'etag-1-stream']],
    );
    assert.equal(r.cutter.pending, PART / 2);
    assert.deepEqual(r.cutter.remainder(), bytes.subarray(PART));
    // What is left goes out from memory as the next part, under the number the cancelled one had.
    await r.cutter.flush();
    await r.cutter.settle();
    assert.deepEqual(
      r.cutter.parts.map((p) => [p.n, p.etag, p.size]),
      [
        [1, 'etag-1-stream', PART],
        [2, 'etag-2-memory', PART / 2],
      ],
    );
  });
});
