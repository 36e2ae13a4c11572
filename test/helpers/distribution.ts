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
}

/** Writes `<dataDir>/config-<port>.yml` (filesystem storage, deletes on, loopback) and returns its path. */
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
    '  filesystem:',
    `    rootdirectory: ${join(o.dataDir, 'registry')}`,
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
