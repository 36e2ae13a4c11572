import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { DownloadSpool } from '../../../src/proxy/download-spool.js';
import { BlobNotFoundError } from '../../../src/storage/blob-store.js';

describe('DownloadSpool (the bytes of a download in progress, for clients that join it)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-spool-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('removes spool files a killed process left (not written for an hour), and only those, when the first spool is made', async () => {
    const left = path.join(dir, 'left-by-a-killed-process');
    const live = path.join(dir, 'written-a-minute-ago');
    await writeFile(left, 'old');
    await writeFile(live, 'new');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(left, twoHoursAgo, twoHoursAgo);
    const minuteAgo = new Date(Date.now() - 60_000);
    await utimes(live, minuteAgo, minuteAgo);
    const spool = await DownloadSpool.create(dir);
    const names = await readdir(dir);
    assert.ok(!names.includes('left-by-a-killed-process'));
    assert.ok(names.includes('written-a-minute-ago'));
    await spool.remove();
  });

  it('reads what was added from any offset while more comes, and is gone after remove()', async () => {
    const spool = await DownloadSpool.create(dir);
    await spool.add(Buffer.from('hello '));
    await spool.add(Buffer.from('world'));
    // Added bytes reach the file within a few ms (a partial batch lingers briefly).
    let read = '';
    for (let i = 0; i < 100 && read !== 'world'; i++) {
      read = await text(await spool.read(6));
      if (read !== 'world') await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(read, 'world');
    await spool.remove();
    await assert.rejects(spool.read(0), BlobNotFoundError);
    assert.deepEqual((await readdir(dir)).filter((n) => n !== 'written-a-minute-ago'), []);
  });
});
