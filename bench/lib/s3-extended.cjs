// The multipart listing calls s3rver 3.7.1 lacks, for the bench's S3 section: loaded into the
// s3rver child process of test/helpers/s3rver.ts (`startS3rver({ extend: <this file> })`) as the
// outermost Koa middleware of s3rver's own app, so it adds no hop and no copy: request and
// response bodies go past it untouched.
//
// CNCF Distribution 2.8's s3 driver resumes its multipart writer on every PATCH and PUT of an
// upload with ListMultipartUploads (GET /<bucket>?uploads&prefix=<key>) and then ListParts
// (GET /<bucket>/<key>?uploadId=<id>); s3rver answers the first 501 NotImplemented and the second
// 405 MethodNotAllowed. Both are answered here from what passed through:
//
//   - CreateMultipartUpload (POST /<bucket>/<key>?uploads) answered 200: bucket, key, UploadId
//     (from the response XML), time;
//   - UploadPart (PUT /<bucket>/<key>?uploadId=&partNumber=, no x-amz-copy-source) answered 200:
//     part number, size (Content-Length, or the stored part file's size), ETag of the response;
//   - CompleteMultipartUpload answered 200 and AbortMultipartUpload answered 204: forgotten.
//
// Path-style requests only (as every client of the bench sends them). The two listing calls are
// answered without checking the request signature (s3rver checks it for everything else); this is
// a loopback test server.
'use strict';

const fs = require('fs');
const path = require('path');

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]);
}

function el(name, value) {
  return `<${name}>${esc(value)}</${name}>`;
}

function xml(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
}

function s3error(ctx, status, code, message) {
  xml(ctx, status, `<Error>${el('Code', code)}${el('Message', message)}</Error>`);
}

/** '/<bucket>' or '/<bucket>/<key…>' → { bucket, key } (key '' for the bucket itself) */
function target(ctx) {
  const p = ctx.path;
  const slash = p.indexOf('/', 1);
  if (slash < 0) return { bucket: decodeURIComponent(p.slice(1)), key: '' };
  return { bucket: decodeURIComponent(p.slice(1, slash)), key: decodeURIComponent(p.slice(slash + 1)) };
}

function intParam(v, dflt, max) {
  const n = Number.parseInt(String(v ?? ''), 10);
  return Number.isFinite(n) && n >= 0 ? Math.min(n, max) : dflt;
}

module.exports = function extend(server, options = {}) {
  /** uploadId → { bucket, key, initiated: Date, parts: Map<number, { size, etag, at: Date }> } */
  const uploads = new Map();
  const dir = options.directory;
  const owner = '<Owner><ID>123456789000</ID><DisplayName>S3rver</DisplayName></Owner>';
  const initiator = '<Initiator><ID>123456789000</ID><DisplayName>S3rver</DisplayName></Initiator>';

  function listUploads(ctx, bucket) {
    const q = ctx.query;
    const prefix = String(q.prefix ?? '');
    const keyMarker = String(q['key-marker'] ?? '');
    const idMarker = String(q['upload-id-marker'] ?? '');
    const max = intParam(q['max-uploads'], 1000, 1000);
    // AWS: by key, then by initiation time
    const all = [...uploads.entries()]
      .filter(([, u]) => u.bucket === bucket && u.key.startsWith(prefix))
      .sort(([ia, a], [ib, b]) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated - b.initiated || (ia < ib ? -1 : 1)));
    let from = 0;
    if (keyMarker) {
      from = all.findIndex(([id, u]) => u.key > keyMarker || (idMarker !== '' && u.key === keyMarker && id > idMarker));
      if (from < 0) from = all.length;
    }
    const page = all.slice(from, from + max);
    const truncated = from + max < all.length;
    const last = page[page.length - 1];
    let body = `<ListMultipartUploadsResult xmlns="${XMLNS}">${el('Bucket', bucket)}${el('KeyMarker', keyMarker)}${el('UploadIdMarker', idMarker)}`;
    body += `${el('NextKeyMarker', truncated && last ? last[1].key : '')}${el('NextUploadIdMarker', truncated && last ? last[0] : '')}`;
    body += `${el('Prefix', prefix)}${el('MaxUploads', max)}${el('IsTruncated', truncated)}`;
    for (const [id, u] of page) {
      body += `<Upload>${el('Key', u.key)}${el('UploadId', id)}${initiator}${owner}${el('StorageClass', 'STANDARD')}${el('Initiated', u.initiated.toISOString())}</Upload>`;
    }
    xml(ctx, 200, `${body}</ListMultipartUploadsResult>`);
  }

  function listParts(ctx, bucket, key, uploadId) {
    const u = uploads.get(uploadId);
    if (!u || u.bucket !== bucket || u.key !== key) {
      s3error(ctx, 404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.');
      return;
    }
    const marker = intParam(ctx.query['part-number-marker'], 0, 10000);
    const max = intParam(ctx.query['max-parts'], 1000, 1000);
    const all = [...u.parts.entries()].filter(([n]) => n > marker).sort(([a], [b]) => a - b);
    const page = all.slice(0, max);
    const truncated = all.length > max;
    const next = page.length > 0 ? page[page.length - 1][0] : marker;
    let body = `<ListPartsResult xmlns="${XMLNS}">${el('Bucket', bucket)}${el('Key', key)}${el('UploadId', uploadId)}${initiator}${owner}${el('StorageClass', 'STANDARD')}`;
    body += `${el('PartNumberMarker', marker)}${el('NextPartNumberMarker', next)}${el('MaxParts', max)}${el('IsTruncated', truncated)}`;
    for (const [n, p] of page) {
      body += `<Part>${el('PartNumber', n)}${el('LastModified', p.at.toISOString())}${el('ETag', p.etag)}${el('Size', p.size)}</Part>`;
    }
    xml(ctx, 200, `${body}</ListPartsResult>`);
  }

  /** Size of an uploaded part: its Content-Length, else the part file s3rver wrote. */
  function partSize(ctx, bucket, uploadId, n) {
    const len = ctx.get('content-length');
    if (len !== '' && !ctx.get('content-encoding').includes('aws-chunked')) return Number(len);
    if (!dir) return NaN;
    try {
      return fs.statSync(path.join(dir, bucket, '._S3rver_uploads', uploadId, String(n))).size;
    } catch {
      return NaN;
    }
  }

  server.middleware.unshift(async function multipartListing(ctx, next) {
    const q = ctx.query;
    const method = ctx.method;
    if (method === 'GET' && ('uploads' in q || 'uploadId' in q)) {
      const { bucket, key } = target(ctx);
      if (key === '' && 'uploads' in q) return listUploads(ctx, bucket);
      if (key !== '' && 'uploadId' in q) return listParts(ctx, bucket, key, String(q.uploadId));
      return next();
    }
    const create = method === 'POST' && 'uploads' in q;
    const part = method === 'PUT' && 'uploadId' in q && 'partNumber' in q && !ctx.get('x-amz-copy-source');
    const done = (method === 'POST' || method === 'DELETE') && 'uploadId' in q;
    if (!create && !part && !done) return next();
    const { bucket, key } = target(ctx);
    await next();
    if (create) {
      if (ctx.status !== 200 || typeof ctx.body !== 'string') return;
      const m = /<UploadId>([^<]+)<\/UploadId>/.exec(ctx.body);
      if (m) uploads.set(m[1], { bucket, key, initiated: new Date(), parts: new Map() });
    } else if (part) {
      const u = uploads.get(String(q.uploadId));
      if (!u || ctx.status !== 200) return;
      const n = Number(q.partNumber);
      u.parts.set(n, { size: partSize(ctx, bucket, String(q.uploadId), n), etag: ctx.response.get('etag'), at: new Date() });
    } else if ((method === 'POST' && ctx.status === 200) || (method === 'DELETE' && ctx.status === 204)) {
      uploads.delete(String(q.uploadId));
    }
  });
};
