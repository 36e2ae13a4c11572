import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StagedFlushes } from '../../../../src/storage/fs/staged-flush.js';

describe('StagedFlushes (background fdatasync of staged uploads)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-flush-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('settles an upload that was flushed across several writes, and forgets it', async () => {
    const file = path.join(dir, 'a');
    await writeFile(file, Buffer.alloc(64));
    const flushes = new StagedFlushes(16);
    flushes.wrote('a', file, 8);
    flushes.wrote('a', file, 32);
    flushes.wrote('a', file, 64);
    await flushes.settle('a');
    await flushes.settle('a');
  });

  it('makes the commit fail, and keep failing, when a background flush failed', async () => {
    // A path below a regular file: opening it fails with ENOTDIR, as an I/O error would fail.
    const file = path.join(dir, 'a', 'not-a-dir');
    const flushes = new StagedFlushes(16);
    flushes.wrote('b', file, 0);
    flushes.wrote('b', file, 32);
    await assert.rejects(flushes.settle('b'), { code: 'ENOTDIR' });
    await assert.rejects(flushes.settle('b'), { code: 'ENOTDIR' });
    flushes.forget('b');
    await flushes.settle('b');
  });

  it('ignores an upload whose file is gone (cancelled meanwhile)', async () => {
    const flushes = new StagedFlushes(16);
    const file = path.join(dir, 'gone');
    flushes.wrote('c', file, 0);
    flushes.wrote('c', file, 32);
    await flushes.settle('c');
  });
});
