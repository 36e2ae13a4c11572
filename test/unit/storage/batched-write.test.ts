import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { WRITE_BATCH, writeInBatches } from '../../../src/storage/batched-write.js';

async function* chunksOf(bytes: Buffer, sizes: number[]): AsyncIterable<Buffer> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield bytes.subarray(at, at + n);
    at += n;
  }
}

describe('writeInBatches (staged bytes to a file in writev batches)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-batched-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const [what, sizes] of [
    ['64 KiB chunks', [64 * 1024]],
    ['uneven chunks, empty ones among them', [1, 0, 70_001, 3, WRITE_BATCH + 17, 0, 4096]],
    ['one-byte chunks (more than one writev can take)', [1]],
  ] as const) {
    it(`writes exactly the bytes, in order, after what was there: ${what}`, async () => {
      const file = path.join(dir, what.replace(/\W+/g, '-'));
      const head = Buffer.from('kept:');
      const body = randomBytes(what.startsWith('one-byte') ? 5000 : 3 * WRITE_BATCH + 12345);
      const handle = await open(file, 'w+');
      await handle.write(head, 0, head.length, 0);
      const ends: number[] = [];
      const written = await writeInBatches(handle, head.length, chunksOf(body, [...sizes]), (end) => ends.push(end));
      await handle.close();
      assert.equal(written, body.length);
      assert.deepEqual(await readFile(file), Buffer.concat([head, body]));
      assert.equal(ends.at(-1), head.length + body.length, 'the flusher hears of the last byte');
      assert.deepEqual(ends, [...ends].sort((a, b) => a - b), 'ends are told in order');
    });
  }

  it('puts the bytes of a body that paused in the file before the body goes on', async () => {
    const file = path.join(dir, 'paused');
    const handle = await open(file, 'w+');
    let resume!: () => void;
    const resumed = new Promise<void>((r) => (resume = r));
    let sizeWhilePaused = -1;
    async function* paused(): AsyncIterable<Buffer> {
      yield Buffer.alloc(1000, 1);
      // A client that sent part of its chunk and stalls: its bytes must not wait in memory.
      for (let i = 0; i < 200 && (await stat(file)).size < 1000; i++) await delay(10);
      sizeWhilePaused = (await stat(file)).size;
      await resumed;
      yield Buffer.alloc(10, 2);
    }
    const writing = writeInBatches(handle, 0, paused(), () => {});
    setTimeout(resume, 50);
    assert.equal(await writing, 1010);
    await handle.close();
    assert.equal(sizeWhilePaused, 1000);
  });

  it('rejects with the write error, and no write of its own is left running', async () => {
    const file = path.join(dir, 'read-only');
    await (await open(file, 'w')).close();
    const handle = await open(file, 'r');
    await assert.rejects(writeInBatches(handle, 0, chunksOf(randomBytes(3 * WRITE_BATCH), [64 * 1024]), () => {}), { code: 'EBADF' });
    await handle.close();
  });

  it('rejects with the source error after writing nothing more', async () => {
    const file = path.join(dir, 'source-fails');
    const handle = await open(file, 'w+');
    async function* failing(): AsyncIterable<Buffer> {
      yield Buffer.alloc(WRITE_BATCH, 1);
      yield Buffer.alloc(100, 2);
      throw new Error('client went away');
    }
    await assert.rejects(writeInBatches(handle, 0, failing(), () => {}), /client went away/);
    await handle.close();
    assert.ok((await stat(file)).size <= WRITE_BATCH + 100);
  });
});
