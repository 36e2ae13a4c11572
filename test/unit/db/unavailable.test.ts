// Which errors mean "the database is away": the real errors node-postgres gives for a refused,
// cut or silent server, and the SQLSTATEs of a server shutting down, against errors that must
// stay what they are (a constraint violation, a missing file).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { describe, it } from 'node:test';
import pg from 'pg';
import { createPool } from '../../../src/db/pool.js';
import { DatabaseUnavailableError, isDatabaseUnavailable } from '../../../src/db/unavailable.js';

/** A port on 127.0.0.1 nothing listens on: taken from the OS, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A server that accepts connections and then does `onSocket` to each. */
async function fakeServer(onSocket: (s: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function sqlError(code: string): Error {
  return Object.assign(new Error('from the server'), { code });
}

async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

describe('isDatabaseUnavailable', () => {
  it('is true for a pool whose server refuses connections', async () => {
    const pool = createPool(`postgres://berth:berth@127.0.0.1:${await closedPort()}/berth`);
    try {
      const err = await rejectionOf(pool.query('SELECT 1'));
      assert.equal(isDatabaseUnavailable(err), true, String(err));
    } finally {
      await pool.end();
    }
  });

  /** What a query through a pool gives when the server does `onSocket` to each connection. */
  async function queryError(onSocket: (s: net.Socket) => void, connectTimeoutMs?: number): Promise<unknown> {
    const server = await fakeServer(onSocket);
    const pool = createPool(`postgres://berth:berth@127.0.0.1:${server.port}/berth`, 1, connectTimeoutMs);
    try {
      return await rejectionOf(pool.query('SELECT 1'));
    } finally {
      await pool.end();
      await server.close();
    }
  }

  it('is true for a server that closes the connection at once (Connection terminated unexpectedly)', async () => {
    const err = await queryError((s) => s.destroy());
    assert.equal(isDatabaseUnavailable(err), true, String(err));
  });

  it('is true for a server that never answers, once the connect timeout is over', async () => {
    const err = await queryError(() => {}, 300);
    assert.equal(isDatabaseUnavailable(err), true, String(err));
  });

  it('is true for a pool that waits as long as it takes for a free connection, when opening one gets no answer', async () => {
    // waitTimeoutMs 0, as the upload-lock pool: only the client's own connect timeout ends the wait.
    const err = await queryError(() => {}, 0);
    assert.equal(isDatabaseUnavailable(err), true, String(err));
  });

  it('is true for a lone client whose server refuses, and for the connection-exception SQLSTATEs', async () => {
    const client = new pg.Client({ connectionString: `postgres://berth:berth@127.0.0.1:${await closedPort()}/berth` });
    assert.equal(isDatabaseUnavailable(await rejectionOf(client.connect())), true);
    for (const code of ['57P01', '57P02', '57P03', '08006', '08001', '08003']) {
      assert.equal(isDatabaseUnavailable(sqlError(code)), true, code);
    }
    assert.equal(isDatabaseUnavailable(new DatabaseUnavailableError('session lost')), true);
    assert.equal(isDatabaseUnavailable(new Error('wrapped', { cause: sqlError('57P01') })), true);
  });

  it('is false for errors of the query or of something else', async () => {
    for (const code of ['23505', '23503', '42P01', '57014', '40001', '22P02']) {
      assert.equal(isDatabaseUnavailable(sqlError(code)), false, code);
    }
    // A missing file is ENOENT too, but not a connect.
    assert.equal(isDatabaseUnavailable(await rejectionOf(readFile('/nonexistent/berth'))), false);
    assert.equal(isDatabaseUnavailable(new Error('Connection terminated unexpectedly, said the manifest')), false);
    assert.equal(isDatabaseUnavailable(new TypeError('Connection terminated unexpectedly')), false);
    assert.equal(isDatabaseUnavailable(undefined), false);
    assert.equal(isDatabaseUnavailable('ECONNREFUSED'), false);
  });
});
