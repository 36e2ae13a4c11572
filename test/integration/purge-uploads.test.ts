import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { purgeStaleUploads } from '../../src/jobs/purge-uploads.js';
import { tryLockUpload, unlockUpload } from '../../src/db/uploads.js';
import { createPool } from '../../src/db/pool.js';
import { isDatabaseUnavailable } from '../../src/db/unavailable.js';
import { assertErrorCode } from '../helpers/oci.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

describe('purging abandoned uploads (BERTH_UPLOAD_TTL)', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry();
  });
  after(() => reg.close());

  async function startUpload(): Promise<{ location: string; id: string }> {
    const res = await reg.request.post('/v2/team/app/blobs/uploads/').expect(202);
    await reg.request
      .patch(res.headers.location as string)
      .set('Content-Type', 'application/octet-stream')
      .send(Buffer.alloc(1000, 1))
      .expect(202);
    return { location: res.headers.location as string, id: res.headers['docker-upload-uuid'] as string };
  }

  async function age(id: string, hours: number): Promise<void> {
    await reg.db.pool.query(`UPDATE uploads SET updated_at = now() - make_interval(hours => $2) WHERE id = $1`, [id, hours]);
  }

  it('aborts sessions older than the TTL, frees their staged bytes, and leaves recent ones', async () => {
    const old = await startUpload();
    const recent = await startUpload();
    await age(old.id, 25);
    const purged = await purgeStaleUploads(reg.db.pool, reg.store, 24 * 3_600_000);
    assert.equal(purged, 1);
    assertErrorCode(await reg.request.get(old.location).expect(404), 'BLOB_UPLOAD_UNKNOWN');
    assert.equal(await reg.uploadStaged(old.id), false);
    assert.equal(await reg.uploadStaged(recent.id), true);
    const status = await reg.request.get(recent.location).expect(204);
    assert.equal(status.headers.range, '0-999');
  });

  it('skips a stale session while a request is writing to it', async () => {
    const busy = await startUpload();
    await age(busy.id, 48);
    const writer = await reg.db.pool.connect();
    try {
      assert.equal(await tryLockUpload(writer, busy.id), true);
      assert.equal(await purgeStaleUploads(reg.db.pool, reg.store, 24 * 3_600_000), 0);
      await unlockUpload(writer, busy.id);
    } finally {
      writer.release();
    }
    assert.equal(await purgeStaleUploads(reg.db.pool, reg.store, 24 * 3_600_000), 1);
  });

  it('stops, aborting nothing, when it loses the database session that holds the upload lock', async () => {
    const upload = await startUpload();
    await age(upload.id, 48);
    // The purge's own pool: its connection is terminated by the server right after it took the
    // upload's lock, the narrow window in which a client may resume the upload meanwhile.
    const pool = createPool(reg.db.url, 1);
    let resumedMeanwhile: boolean | undefined;
    pool.on('acquire', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
      (client as { query: unknown }).query = async (...args: unknown[]) => {
        const result = await query(...args);
        if ((args[0] as { name?: string }).name === 'try-lock-upload') {
          const gone = new Promise((resolve) => client.once('error', resolve));
          await reg.db.pool.query('SELECT pg_terminate_backend($1)', [(client as unknown as { processID: number }).processID]);
          await gone;
          // The lock goes with the session (once its backend has exited, a moment after the client
          // hears of it): a client resuming the upload then gets it.
          const writer = await reg.db.pool.connect();
          try {
            for (let tries = 0; tries < 100 && !resumedMeanwhile; tries++) {
              resumedMeanwhile = await tryLockUpload(writer, upload.id);
              if (!resumedMeanwhile) await new Promise((r) => setTimeout(r, 50));
            }
            if (resumedMeanwhile) await unlockUpload(writer, upload.id);
          } finally {
            writer.release();
          }
        }
        return result;
      };
    });
    try {
      await assert.rejects(purgeStaleUploads(pool, reg.store, 24 * 3_600_000), (err) => isDatabaseUnavailable(err));
    } finally {
      await pool.end();
    }
    assert.equal(resumedMeanwhile, true);
    // The upload was left alone: its bytes are staged and it goes on where it was.
    assert.equal(await reg.uploadStaged(upload.id), true);
    const status = await reg.request.get(upload.location).expect(204);
    assert.equal(status.headers.range, '0-999');
  });
});
