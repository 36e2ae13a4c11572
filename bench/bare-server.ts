// Bare servers for the machine ceilings, run as a child process of bench/run.ts so that, as with
// the registries, the client and the server are separate processes.
//
//   node --import tsx bench/bare-server.ts <file-to-serve> <upload-dir> <mem-bytes> <manifest-file>
//
// node:http on one port:
//   GET  /mem                 the same number of bytes as the pull figure, from memory
//   GET  /file?hwm=<bytes>    fs.createReadStream(<file>, { highWaterMark }) piped into the response
//   PUT  /upload[?sync=1]     body → sha256 + a file in <upload-dir> (write stream, 1 MiB buffer), fdatasync with sync=1
//   GET|HEAD /manifest        a small manifest from memory
// Koa (the framework Berth uses) on another port:
//   GET  /file?hwm=<bytes>    ctx.body = fs.createReadStream(<file>, { highWaterMark })
//   GET  /filehandle?hwm=     ctx.body = (await fs.promises.open(<file>)).createReadStream({ highWaterMark }) — Berth's way
// The same Koa app again on a server made with createServer({ highWaterMark: 4 MiB }) (koaBig): bigger
// socket/response buffers let the next file read overlap the socket write.
// Prints one JSON line {"http":port,"koa":port,"koaBig":port} when listening; exits on SIGTERM or when stdin closes.
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync, statSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import Koa from 'koa';

const [file, uploadDir, memBytesArg, manifestFile] = process.argv.slice(2);
if (!file || !uploadDir || !memBytesArg || !manifestFile) {
  process.stderr.write('usage: bare-server.ts <file> <upload-dir> <mem-bytes> <manifest-file>\n');
  process.exit(2);
}
const mem = randomFillSync(Buffer.allocUnsafe(Number(memBytesArg)));
const manifest = readFileSync(manifestFile);
const fileSize = statSync(file).size;
let uploads = 0;

function hwmOf(url: URL): number {
  const n = Number(url.searchParams.get('hwm') ?? 65536);
  return Number.isFinite(n) && n > 0 ? n : 65536;
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  void (async () => {
    if (req.method === 'GET' && url.pathname === '/mem') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': mem.length });
      res.end(mem);
    } else if (req.method === 'GET' && url.pathname === '/file') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': fileSize });
      await pipeline(createReadStream(file, { highWaterMark: hwmOf(url) }), res);
    } else if (req.method === 'PUT' && url.pathname === '/upload') {
      const target = join(uploadDir, `upload-${process.pid}-${uploads++}`);
      const hash = createHash('sha256');
      const out = createWriteStream(target, { highWaterMark: 1024 * 1024 });
      await pipeline(
        req,
        async function* (src: AsyncIterable<Buffer>) {
          for await (const c of src) {
            hash.update(c);
            yield c;
          }
        },
        out,
      );
      if (url.searchParams.get('sync') === '1') {
        const h = await open(target, 'r+');
        await h.datasync();
        await h.close();
      }
      const digest = `sha256:${hash.digest('hex')}`;
      await rm(target, { force: true });
      res.writeHead(201, { 'Docker-Content-Digest': digest, 'Content-Length': 0 });
      res.end();
    } else if ((req.method === 'GET' || req.method === 'HEAD') && url.pathname === '/manifest') {
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Content-Length': manifest.length });
      res.end(req.method === 'HEAD' ? undefined : manifest);
    } else {
      req.resume();
      res.writeHead(404, { 'Content-Length': 0 });
      res.end();
    }
  })().catch((e: unknown) => {
    process.stderr.write(`bare-server: ${(e as Error).message}\n`);
    res.destroy();
  });
});
server.keepAliveTimeout = 60_000;

const app = new Koa();
app.use(async (ctx) => {
  const url = new URL(ctx.url, 'http://x');
  if (ctx.method === 'GET' && url.pathname === '/file') {
    ctx.type = 'application/octet-stream';
    ctx.body = createReadStream(file, { highWaterMark: hwmOf(url) });
    ctx.length = fileSize;
  } else if (ctx.method === 'GET' && url.pathname === '/filehandle') {
    const h = await open(file, 'r');
    ctx.type = 'application/octet-stream';
    ctx.body = h.createReadStream({ highWaterMark: hwmOf(url) });
    ctx.length = fileSize;
  } else {
    ctx.status = 404;
  }
});
const koaServer = http.createServer(app.callback());
koaServer.keepAliveTimeout = 60_000;
const koaBigServer = http.createServer({ highWaterMark: 4 * 1024 * 1024 }, app.callback());
koaBigServer.keepAliveTimeout = 60_000;

const listen = (s: http.Server) =>
  new Promise<number>((resolve) => {
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });
const ports = { http: await listen(server), koa: await listen(koaServer), koaBig: await listen(koaBigServer) };
process.stdout.write(JSON.stringify(ports) + '\n');

const quit = () => {
  for (const s of [server, koaServer, koaBigServer]) {
    s.closeAllConnections();
    s.close();
  }
  process.exit(0);
};
process.on('SIGTERM', quit);
process.stdin.on('end', quit);
process.stdin.resume();
