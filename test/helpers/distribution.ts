// CNCF Distribution (Debian's docker-registry) as a reference registry for the e2e harness and
// the benchmark: its configuration file, written the same way for both.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DistributionConfigOptions {
  dataDir: string;
  port: number;
  logLevel?: 'error' | 'warn' | 'info';
  /** Its shipped configuration caches blob descriptors in memory; the benchmark keeps that. */
  blobDescriptorCache?: boolean;
  /** Its `s3` storage driver instead of the filesystem (the bench's S3 section). */
  s3?: DistributionS3Options;
}

export interface DistributionS3Options {
  /** http://127.0.0.1:<port>; with `regionendpoint` set, 2.8 sends path-style requests */
  endpoint: string;
  region: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
  /** the writer's part size (its minimum 5 MiB, default 10 MiB) */
  chunkSize: number;
  /** objects above this are moved with UploadPartCopy, below with CopyObject (default 32 MiB, max 5 GiB) */
  multipartCopyThresholdSize?: number;
  rootDirectory: string;
  /** false (default): blobs are streamed through the registry; true: 307 to a presigned URL */
  redirect?: boolean;
}

/** Writes `<dataDir>/config-<port>.yml` (filesystem or S3 storage, deletes on, loopback) and returns its path. */
export function writeDistributionConfig(o: DistributionConfigOptions): string {
  const file = join(o.dataDir, `config-${o.port}.yml`);
  const lines = [
    'version: 0.1',
    'log:',
    `  level: ${o.logLevel ?? 'warn'}`,
    '  accesslog:',
    '    disabled: true',
    'storage:',
    ...(o.blobDescriptorCache ? ['  cache:', '    blobdescriptor: inmemory'] : []),
    ...(o.s3
      ? [
          '  s3:',
          `    region: ${o.s3.region}`,
          `    regionendpoint: ${o.s3.endpoint}`,
          `    bucket: ${o.s3.bucket}`,
          `    accesskey: ${o.s3.accessKey}`,
          `    secretkey: ${o.s3.secretKey}`,
          '    secure: false',
          '    v4auth: true',
          `    chunksize: ${o.s3.chunkSize}`,
          ...(o.s3.multipartCopyThresholdSize === undefined ? [] : [`    multipartcopythresholdsize: ${o.s3.multipartCopyThresholdSize}`]),
          `    rootdirectory: ${o.s3.rootDirectory}`,
          '  redirect:',
          `    disable: ${o.s3.redirect ? 'false' : 'true'}`,
        ]
      : ['  filesystem:', `    rootdirectory: ${join(o.dataDir, 'registry')}`]),
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${o.port}`,
    // Upload state is HMAC-signed with this; fixed per data dir so uploads survive a restart.
    `  secret: ${createHash('sha256').update(o.dataDir).digest('hex')}`,
    '',
  ];
  writeFileSync(file, lines.join('\n'));
  return file;
}
