// Blob bytes streamed through Berth are counted so the buffers they leave behind are collected
// early: what goes in comes out unchanged, both ends of the stream see an error or a destroy, and
// the dead buffers do not pile up to V8's own 64 MiB trigger.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { countingStreamedBytes } from '../../../src/memory/streamed-garbage.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** `total` bytes in fresh 64 KiB buffers, as socket reads hand them out; `paced`: 1 MiB per 10 ms. */
function freshBuffers(total: number, paced = false): Readable {
  let left = total;
  let sent = 0;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(64 * KiB, left);
      left -= n;
      sent += n;
      const chunk = Buffer.allocUnsafeSlow(n).fill(n & 0xff);
      if (paced && sent % MiB === 0) setTimeout(() => this.push(chunk), 10);
      else this.push(chunk);
    },
  });
}

describe('countingStreamedBytes', () => {
  it('passes the bytes through unchanged', async () => {
    const bytes = randomBytes(3 * MiB + 7);
    const chunks: Buffer[] = [];
    for await (const chunk of countingStreamedBytes(Readable.from([bytes.subarray(0, 5), bytes.subarray(5)]))) chunks.push(chunk as Buffer);
    assert.deepEqual(Buffer.concat(chunks), bytes);
  });

  it('destroys the source when the reader goes away (a client that hung up)', async () => {
    const source = freshBuffers(64 * MiB);
    const counted = countingStreamedBytes(source);
    const closed = new Promise((resolve) => source.once('close', resolve));
    counted.once('data', () => counted.destroy());
    await closed;
    assert.equal(source.destroyed, true);
    assert.equal(source.readableEnded, false, 'the source was cut off, not read to its end');
  });

  it('fails the stream it returns when the source fails (a broken S3 read)', async () => {
    const source = new Readable({ read() {} });
    const counted = countingStreamedBytes(source);
    const failed = once(counted, 'error');
    source.push(Buffer.alloc(10));
    source.destroy(new Error('connection reset'));
    const [err] = (await failed) as [Error];
    assert.equal(err.message, 'connection reset');
  });

  it('keeps the dead buffers of 96 MiB streamed at ~100 MiB/s well below the pile V8 would let grow', async () => {
    let peak = 0;
    const sink = new Writable({
      write(_chunk, _encoding, done) {
        peak = Math.max(peak, process.memoryUsage().arrayBuffers);
        done();
      },
    });
    await pipeline(countingStreamedBytes(freshBuffers(96 * MiB, true)), sink);
    // Without the collections this peaked at ~36 MiB here (V8 collects early in a small process).
    assert.ok(peak < 24 * MiB, `array buffers peaked at ${(peak / MiB).toFixed(1)} MiB`);
  });
});
