// The one buffer pool of the byte paths: a buffer given back is handed out again for its size, no
// more than `keep` of a size are kept, and buffers of sizes nobody takes are left to V8.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BufferPool } from '../../../src/memory/buffer-pool.js';

describe('BufferPool', () => {
  it('hands a buffer given back out again for the same size, and not for another', () => {
    const pool = new BufferPool(2);
    const first = pool.take(1024);
    pool.giveBack(first);
    assert.notEqual(pool.take(2048), first);
    assert.equal(pool.take(1024), first);
    assert.notEqual(pool.take(1024), first);
  });

  it('keeps at most `keep` buffers of a size', () => {
    const pool = new BufferPool(2);
    const taken = [pool.take(64), pool.take(64), pool.take(64)];
    taken.forEach((b) => pool.giveBack(b));
    const again = new Set([pool.take(64), pool.take(64), pool.take(64)]);
    assert.equal(taken.filter((b) => again.has(b)).length, 2);
  });

  it('leaves a buffer of a size never taken to V8', () => {
    const pool = new BufferPool(2);
    const stray = Buffer.alloc(512);
    pool.giveBack(stray);
    assert.notEqual(pool.take(512), stray);
  });

  it('hands out buffers that own their whole ArrayBuffer, so a worker can be sent one', () => {
    const pool = new BufferPool(2);
    const small = pool.take(16);
    assert.equal(small.byteOffset, 0);
    assert.equal(small.buffer.byteLength, 16);
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(small.buffer, [small.buffer as ArrayBuffer]);
    assert.equal(small.length, 0, 'the buffer was transferred, not copied');
    port1.close();
    port2.close();
  });
});
