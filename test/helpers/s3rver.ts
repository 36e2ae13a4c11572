// An S3-compatible server for tests: s3rver (npm) in a child process on 127.0.0.1, a free port,
// a temporary directory and a fresh bucket. A child process keeps its CPU work and its global
// exception handlers out of the test process, and is stopped by its PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/storage/s3/s3-client.js';
import { checkBucket } from '../../src/storage/s3/check-bucket.js';

/** s3rver's built-in account; it checks request signatures against it. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface TestS3 {
  endpoint: string;
  bucket: string;
  client: S3Client;
  /** The server's data directory (objects are files under <dir>/<bucket>/). */
  dir: string;
  /** Multipart uploads s3rver still holds (neither completed nor cleaned up). */
  pendingMultipartUploads(): Promise<string[]>;
  /** Another client for the same server, e.g. with other retry settings. */
  newClient(options?: { maxAttempts?: number }): S3Client;
  stop(): Promise<void>;
  /** SIGKILL, keeping the data directory: start again with startS3rver({ port, dir, bucket }). */
  kill(): Promise<void>;
}

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The child: s3rver 3.7.1 with its filesystem store fixed where it acknowledges a PUT (object or
 * part) before the file is fully written, so a GET right after could read a short file. Here
 * objects are written to a temporary file and renamed (a reader sees old or new content, never
 * part), and a PUT is answered only once its bytes are on disk. Its GET also takes the range end
 * 0 for "no end" (`Range: bytes=0-0` got the whole object under Content-Range 0-<size-1>), and
 * its DELETE, which removes the key's directories once empty, failed with InternalError (on every
 * retry) when concurrent DELETEs in one directory removed it first: both fixed.
 */
const SERVER_SCRIPT = `
const crypto = require('crypto');
const fs = require('fs-extra');
const path = require('path');
const { Transform } = require('stream');
const { pipeline } = require('stream/promises');
const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem');

async function writeHashed(content, file) {
  const md5 = crypto.createHash('md5');
  let size = 0;
  const temp = file + '.tmp-' + crypto.randomBytes(6).toString('hex');
  const count = new Transform({ transform(chunk, encoding, callback) { md5.update(chunk); size += chunk.length; callback(null, chunk); } });
  try {
    if (Buffer.isBuffer(content)) {
      await fs.writeFile(temp, content);
      md5.update(content);
      size = content.length;
    } else {
      await pipeline(content, count, fs.createWriteStream(temp));
    }
    await fs.rename(temp, file);
  } catch (err) {
    await fs.remove(temp);
    throw err;
  }
  return { size, md5: md5.digest('hex') };
}

FilesystemStore.prototype.putObject = async function (object) {
  const file = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.mkdirp(path.dirname(file));
  const { size, md5 } = await writeHashed(object.content, file);
  await this.putMetadata(object.bucket, object.key, object.metadata, md5);
  return { size, md5 };
};

FilesystemStore.prototype.putPart = async function (bucket, uploadId, partNumber, content) {
  const file = path.join(this.getResourcePath(bucket, undefined, 'uploads'), uploadId, partNumber.toString());
  await fs.mkdirp(path.dirname(file));
  const { size, md5 } = await writeHashed(content, file);
  await fs.writeFile(file + '.md5', md5);
  return { size, md5 };
};

FilesystemStore.prototype.copyObject = async function (srcBucket, srcKey, destBucket, destKey, replacementMetadata) {
  const src = this.getResourcePath(srcBucket, srcKey, 'object');
  const dest = this.getResourcePath(destBucket, destKey, 'object');
  if (src !== dest) {
    await fs.mkdirp(path.dirname(dest));
    const temp = dest + '.tmp-' + crypto.randomBytes(6).toString('hex');
    await fs.copy(src, temp);
    await fs.rename(temp, dest);
  }
  if (replacementMetadata) {
    await this.putMetadata(destBucket, destKey, replacementMetadata);
  } else if (src !== dest) {
    for (const resource of ['metadata.json', 'object.md5']) {
      await fs.copy(this.getResourcePath(srcBucket, srcKey, resource), this.getResourcePath(destBucket, destKey, resource));
    }
  }
  return this.getMetadata(destBucket, destKey);
};

FilesystemStore.prototype.deleteObject = async function (bucket, key) {
  for (const resource of ['object', 'object.md5', 'metadata.json']) {
    await fs.unlink(this.getResourcePath(bucket, key, resource)).catch((err) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
  const bucketPath = this.getBucketPath(bucket);
  const parts = key.split('/');
  parts.pop();
  while (parts.length) {
    try {
      await fs.rmdir(path.join(bucketPath, ...parts));
    } catch (err) {
      // not empty, or removed by a concurrent DELETE: either way nothing more to clean up here
      if (err.code === 'ENOTEMPTY' || err.code === 'EEXIST' || err.code === 'ENOENT') break;
      throw err;
    }
    parts.pop();
  }
};

const S3Object = require('s3rver/lib/models/object');
const getObject = FilesystemStore.prototype.getObject;
FilesystemStore.prototype.getObject = async function (bucket, key, options) {
  if (!options || options.end !== 0) return getObject.call(this, bucket, key, options);
  // bytes=<start>-0: only bytes=0-0 is satisfiable (when the object is not empty)
  const object = await getObject.call(this, bucket, key, { start: options.start, end: undefined });
  if (!object) return object;
  if (object.content) object.content.destroy();
  const metadata = await this.getMetadata(bucket, key);
  const size = Number(metadata['content-length']);
  if (options.start !== 0 || size === 0) {
    const unsatisfiable = new S3Object(bucket, key, null, metadata);
    unsatisfiable.range = { start: options.start, end: 0 };
    return unsatisfiable;
  }
  const content = fs.createReadStream(this.getResourcePath(bucket, key, 'object'), { start: 0, end: 0 });
  const ranged = new S3Object(bucket, key, content, metadata);
  ranged.range = { start: 0, end: 0 };
  return ranged;
};

const server = new S3rver({ address: '127.0.0.1', port: Number(process.env.S3RVER_PORT || 0), silent: true, directory: process.env.S3RVER_DIR });
if (process.env.S3RVER_ABORT === '1') {
  // AbortMultipartUpload (DELETE ?uploadId=), which AWS, MinIO and Ceph have and s3rver lacks:
  // the upload's parts are removed. Path-style requests only, as the tests send them.
  server.middleware.unshift(async (ctx, next) => {
    if (ctx.method !== 'DELETE' || ctx.query.uploadId === undefined) return next();
    const bucket = decodeURIComponent(ctx.path.split('/')[1] || '');
    const uploadId = String(ctx.query.uploadId);
    const dir = path.join(process.env.S3RVER_DIR, bucket, '._S3rver_uploads', uploadId);
    if (!/^[0-9a-f]+$/.test(uploadId) || !(await fs.pathExists(dir))) {
      ctx.status = 404;
      ctx.type = 'application/xml';
      ctx.body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>';
      return;
    }
    await fs.remove(dir);
    ctx.status = 204;
  });
}
if (process.env.S3RVER_EXTEND) require(process.env.S3RVER_EXTEND)(server, { directory: process.env.S3RVER_DIR });
server.run().then((address) => process.stdout.write(JSON.stringify({ port: address.port }) + '\\n'), (err) => {
  console.error(err);
  process.exit(1);
});
process.on('SIGTERM', () => server.close().finally(() => process.exit(0)));
// The test process went away without stopping us (a crash): go too.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

/**
 * `abortMultipart` (default true): whether the server implements AbortMultipartUpload, as AWS,
 * MinIO and Ceph do; false is s3rver as published, a server Berth must work with too.
 * `extend`: the absolute path of a CommonJS module loaded in the child once the fixes above are in,
 * called as `module(server, { directory })` before the server listens (the bench adds the
 * multipart listing calls with bench/lib/s3-extended.cjs).
 */
export async function startS3rver(
  options: { bucket?: string; abortMultipart?: boolean; extend?: string; port?: number; dir?: string } = {},
): Promise<TestS3> {
  const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), 'berth-s3rver-')));
  const child = spawn(process.execPath, ['-e', SERVER_SCRIPT], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, S3RVER_DIR: dir, S3RVER_PORT: String(options.port ?? 0), S3RVER_ABORT: options.abortMultipart === false ? '0' : '1', S3RVER_EXTEND: options.extend ?? '' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let port: number;
  try {
    port = await readPort(child);
  } catch (err) {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const newClient = (o: { maxAttempts?: number } = {}) =>
    createS3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS, maxAttempts: o.maxAttempts });
  const client = newClient();
  const bucket = options.bucket ?? `berth-${randomBytes(4).toString('hex')}`;
  await checkBucket(client, bucket, { create: true });
  return {
    endpoint,
    bucket,
    client,
    dir,
    newClient,
    async pendingMultipartUploads() {
      return readdir(path.join(dir, bucket, '._S3rver_uploads')).catch(() => []);
    },
    async stop() {
      client.destroy();
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

function readPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('s3rver did not start within 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`s3rver exited with code ${code} before listening`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve((JSON.parse(line) as { port: number }).port);
      } catch (err) {
        reject(err);
      }
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
