// ObjectGets (src/storage/s3/http-object-send.ts): object GETs whose bodies go straight into a
// response. A fake object server, written on raw sockets so each byte's timing is the test's,
// sits behind a front server that sends what ObjectGets got; a client reads from the front.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { ObjectGets } from '../../../../src/storage/s3/http-object-send.js';
import { findTool, requireTool } from '../../../helpers/system-tools.js';

const run = promisify(execFile);

interface Seen {
  requestLine: string;
  headers: string;
  connection: number;
}

/** How the fake answers a request: writes to the socket itself. */
type Answer = (socket: net.Socket, seen: Seen) => void;

const head = (status: number, headers: Record<string, string | number>) =>
  `HTTP/1.1 ${status} X\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;

describe('ObjectGets', () => {
  let objectServer: net.Server;
  let objectPort = 0;
  let answer: Answer;
  let seen: Seen[] = [];
  let connections = 0;
  const closedSockets: number[] = [];
  let front: Server;
  let frontPort = 0;
  let gets: ObjectGets;
  let frontGot: { result: 'sent' | 'fallback' | 'error'; error?: string }[] = [];
  const timeouts = { connectTimeoutMs: 2000, idleTimeoutMs: 2000 };

  before(async () => {
    objectServer = net.createServer((socket) => {
      const id = ++connections;
      let buffered = '';
      socket.on('error', () => {});
      socket.on('close', () => closedSockets.push(id));
      socket.on('data', (d) => {
        buffered += d.toString('latin1');
        let end;
        while ((end = buffered.indexOf('\r\n\r\n')) >= 0) {
          const [requestLine, ...headers] = buffered.slice(0, end).split('\r\n');
          buffered = buffered.slice(end + 4);
          const s = { requestLine: requestLine!, headers: headers.join('\n'), connection: id };
          seen.push(s);
          answer(socket, s);
        }
      });
    });
    await new Promise<void>((r) => objectServer.listen(0, '127.0.0.1', r));
    objectPort = (objectServer.address() as net.AddressInfo).port;
    front = createServer((req, res) => {
      const range = req.headers.range;
      gets
        .get(`http://127.0.0.1:${objectPort}/bucket/key?X-Amz-Signature=abc`, { range })
        .then(async (body) => {
          if (!body) {
            frontGot.push({ result: 'fallback' });
            res.writeHead(599).end();
            return;
          }
          res.writeHead(200, { 'content-length': body.length });
          await body.sendTo(res);
          frontGot.push({ result: 'sent' });
        })
        .catch((err: Error) => {
          frontGot.push({ result: 'error', error: err.message });
          res.destroy();
        });
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    frontPort = (front.address() as net.AddressInfo).port;
  });
  after(async () => {
    await new Promise((r) => front.close(r));
    front.closeAllConnections();
    objectServer.close();
  });
  beforeEach(() => {
    gets = new ObjectGets(timeouts);
    seen = [];
    frontGot = [];
  });

  /** GET through the front; resolves with the status and bytes, or rejects when the response is cut. */
  function pull(opts: { range?: string; readDelayMs?: number; abortAfter?: number } = {}): Promise<{ status: number; bytes: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: frontPort, path: '/', agent: false, headers: opts.range ? { range: opts.range } : {} }, (res) => {
        const parts: Buffer[] = [];
        let n = 0;
        if (opts.readDelayMs) {
          res.pause();
          setTimeout(() => res.resume(), opts.readDelayMs);
        }
        res.on('data', (d: Buffer) => {
          parts.push(d);
          n += d.length;
          if (opts.abortAfter !== undefined && n >= opts.abortAfter) {
            req.destroy();
            resolve({ status: res.statusCode!, bytes: Buffer.concat(parts) });
          }
        });
        res.on('end', () => resolve({ status: res.statusCode!, bytes: Buffer.concat(parts) }));
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('response cut')));
      });
      req.on('error', reject);
      req.end();
    });
  }

  const until = async (check: () => boolean) => {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(check(), 'condition not reached within 2 s');
  };

  it('sends the bytes, with the head and the first bytes in one packet and the head itself split, and reuses the connection', async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 11);
    answer = (socket) => {
      const h = head(200, { 'Content-Length': bytes.length, ETag: '"x"' });
      socket.write(h.slice(0, 10));
      setTimeout(() => {
        socket.write(Buffer.concat([Buffer.from(h.slice(10), 'latin1'), bytes.subarray(0, 1000)]));
        setTimeout(() => socket.write(bytes.subarray(1000)), 20);
      }, 20);
    };
    const before = connections;
    for (let i = 0; i < 3; i++) {
      const got = await pull();
      assert.equal(got.status, 200);
      assert.ok(got.bytes.equals(bytes), `GET ${i + 1}: the same bytes`);
    }
    assert.equal(connections - before, 1, 'three GETs over one kept-alive connection');
    assert.match(seen[0]!.requestLine, /^GET \/bucket\/key\?X-Amz-Signature=abc HTTP\/1\.1$/);
    assert.match(seen[0]!.headers, new RegExp(`^Host: 127\\.0\\.0\\.1:${objectPort}$`, 'm'));
  });

  it('does not reuse a connection the server said it closes (Connection: close, or HTTP/1.0)', async () => {
    const bytes = randomBytes(1000);
    for (const [version, extra] of [['1.1', { Connection: 'close' }], ['1.0', {}]] as const) {
      answer = (socket) => {
        socket.write(Buffer.concat([Buffer.from(head(200, { 'Content-Length': bytes.length, ...extra }).replace('HTTP/1.1', `HTTP/${version}`)), bytes]));
      };
      const before = connections;
      assert.ok((await pull()).bytes.equals(bytes));
      assert.ok((await pull()).bytes.equals(bytes));
      assert.equal(connections - before, 2, `HTTP/${version}: a connection per GET`);
    }
  });

  it('passes the Range on and sends the 206 body', async () => {
    const bytes = randomBytes(5000);
    answer = (socket, s) => {
      const [, start, end] = /^Range: bytes=(\d+)-(\d+)$/m.exec(s.headers)!.map(Number);
      const part = bytes.subarray(start, end! + 1);
      socket.write(head(206, { 'Content-Length': part.length, 'Content-Range': `bytes ${start}-${end}/5000` }));
      socket.write(part);
    };
    const got = await pull({ range: 'bytes=100-1099' });
    assert.ok(got.bytes.equals(bytes.subarray(100, 1100)));
  });

  it('an empty body, or a body that came whole with its head, leaves the connection ready for the next GET', async () => {
    const small = randomBytes(100);
    let served = 0;
    answer = (socket) => {
      const bytes = served++ % 2 === 0 ? Buffer.alloc(0) : small;
      socket.write(Buffer.concat([Buffer.from(head(200, { 'Content-Length': bytes.length })), bytes]));
    };
    const before = connections;
    for (let i = 0; i < 4; i++) {
      const got = await pull();
      assert.ok(got.bytes.equals(i % 2 === 0 ? Buffer.alloc(0) : small), `GET ${i + 1}`);
    }
    assert.equal(connections - before, 1, 'one connection for the four');
    assert.equal(frontGot.length, 4);
  });

  it('answers undefined (the caller asks the SDK) for an error status, a chunked body, no length, or a bad head', async () => {
    const answers: Answer[] = [
      (s) => s.write(head(404, { 'Content-Length': 9 }) + 'NoSuchKey'),
      (s) => s.write(head(503, { 'Content-Length': 0 })),
      (s) => s.write(head(200, { 'Transfer-Encoding': 'chunked' }) + '3\r\nabc\r\n0\r\n\r\n'),
      (s) => s.end(head(200, {}) + 'until close'),
      (s) => s.write('HTTP/1.1 200 X\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'),
      (s) => s.write('HTTP/1.1 200 X\r\nno colon here\r\n\r\n'),
      (s) => s.write('SSH-2.0-OpenSSH\r\n\r\n'),
      (s) => s.write(head(200, { 'Content-Length': 2 }) + 'more than two'),
      // A head that does not end within 64 KiB.
      (s) => s.write(`HTTP/1.1 200 X\r\nContent-Length: 1\r\nX-Filler: ${'a'.repeat(70 * 1024)}`),
    ];
    for (const a of answers) {
      answer = a;
      const got = await pull();
      assert.equal(got.status, 599, 'fell back');
    }
    assert.equal(frontGot.filter((g) => g.result === 'fallback').length, answers.length);
  });

  it('answers undefined when nothing listens, and rejects when the request is aborted', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    assert.equal(await gets.get(`http://127.0.0.1:${port}/b/k`, {}), undefined);
    answer = () => {}; // never answers
    const controller = new AbortController();
    const pending = gets.get(`http://127.0.0.1:${objectPort}/b/k`, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('client left')), 50);
    await assert.rejects(pending, /client left/);
  });

  it('cuts the response short when the object server closes mid-body, and does not reuse that connection', async () => {
    const bytes = randomBytes(1024 * 1024);
    answer = (socket) => {
      socket.write(head(200, { 'Content-Length': bytes.length }));
      socket.end(bytes.subarray(0, 300_000));
    };
    await assert.rejects(pull(), /response cut|aborted|socket hang up/);
    const good = randomBytes(10);
    answer = (socket) => socket.write(Buffer.concat([Buffer.from(head(200, { 'Content-Length': 10 })), good]));
    const before = connections;
    assert.ok((await pull()).bytes.equals(good));
    assert.equal(connections - before, 1, 'a new connection');
  });

  it('a client that leaves mid-body closes the object connection; the next GET opens another', async () => {
    const bytes = randomBytes(8 * 1024 * 1024);
    answer = (socket) => {
      socket.write(head(200, { 'Content-Length': bytes.length }));
      socket.write(bytes);
    };
    const before = connections;
    const got = await pull({ abortAfter: 256 * 1024 });
    assert.ok(got.bytes.length < bytes.length);
    await until(() => closedSockets.includes(before + 1));
    const again = await pull();
    assert.ok(again.bytes.equals(bytes));
    assert.equal(connections - before, 2);
  });

  it('a slow client gets every byte in order (reading stops and starts again)', async () => {
    const bytes = randomBytes(6 * 1024 * 1024 + 3);
    answer = (socket) => {
      socket.write(head(200, { 'Content-Length': bytes.length }));
      socket.write(bytes);
    };
    const got = await pull({ readDelayMs: 300 });
    assert.ok(got.bytes.equals(bytes));
  });

  it('a kept-alive connection the server dropped without answering is retried once on a new one', async () => {
    const bytes = randomBytes(2000);
    const servedOn = new Set<number>();
    answer = (socket, s) => {
      // The first request of each connection is answered; a second one finds it closed.
      if (servedOn.has(s.connection)) return void socket.destroy();
      servedOn.add(s.connection);
      socket.write(head(200, { 'Content-Length': bytes.length }));
      socket.write(bytes);
    };
    const before = connections;
    assert.ok((await pull()).bytes.equals(bytes));
    assert.ok((await pull()).bytes.equals(bytes));
    assert.equal(connections - before, 2);
    assert.deepEqual(frontGot.map((g) => g.result), ['sent', 'sent']);
  });
});

describe('ObjectGets over TLS', () => {
  let dir: string;
  let server: https.Server;
  let port = 0;
  const bytes = randomBytes(3 * 1024 * 1024 + 7);

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-object-tls-'));
    if (!findTool('openssl')) return;
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')]);
    server = https.createServer({ key: await readFile(path.join(dir, 'key.pem')), cert: await readFile(path.join(dir, 'cert.pem')) }, (_req, res) => {
      res.writeHead(200, { 'content-length': bytes.length });
      res.end(bytes);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  // A child process, so NODE_EXTRA_CA_CERTS (read at start-up, as in production) can trust the test's CA.
  const CHILD = `
    import http from 'node:http';
    import { createHash } from 'node:crypto';
    const { ObjectGets } = await import(process.env.MODULE);
    const gets = new ObjectGets({ connectTimeoutMs: 2000, idleTimeoutMs: 2000 });
    const front = http.createServer(async (req, res) => {
      const body = await gets.get(process.env.URL, {});
      if (!body) return void res.writeHead(599).end();
      res.writeHead(200, { 'content-length': body.length });
      await body.sendTo(res);
    });
    await new Promise((r) => front.listen(0, '127.0.0.1', r));
    for (let i = 0; i < 2; i++) {
      const { status, hash } = await new Promise((resolve) => http.get('http://127.0.0.1:' + front.address().port + '/', (res) => {
        const h = createHash('sha256');
        res.on('data', (d) => h.update(d));
        res.on('end', () => resolve({ status: res.statusCode, hash: h.digest('hex') }));
      }));
      console.log(status, hash);
    }
    process.exit(0);`;

  async function pullInChild(env: Record<string, string>): Promise<string[]> {
    const module = pathToFileURL(path.resolve('src/storage/s3/http-object-send.ts')).href;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
      env: { ...process.env, MODULE: module, URL: `https://127.0.0.1:${port}/bucket/key`, ...env },
    });
    return stdout.trim().split('\n');
  }

  it('reads over https from a server the process trusts, twice on one connection, and refuses one it does not (the SDK is asked)', async (t) => {
    if (!requireTool(t, 'openssl')) return;
    const expected = createHash('sha256').update(bytes).digest('hex');
    assert.deepEqual(await pullInChild({ NODE_EXTRA_CA_CERTS: path.join(dir, 'cert.pem') }), [`200 ${expected}`, `200 ${expected}`]);
    const untrusted = await pullInChild({});
    assert.deepEqual(untrusted.map((line) => line.split(' ')[0]), ['599', '599']);
  });
});
