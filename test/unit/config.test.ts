import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, isLoopback, loadConfig, parseAddr } from '../../src/config.js';

/** Asserts loadConfig refuses `env` with a ConfigError whose message names `variable`. */
function assertRefused(env: NodeJS.ProcessEnv, variable: string): void {
  assert.throws(
    () => loadConfig(env),
    (err: unknown) => err instanceof ConfigError && err.name === 'ConfigError' && err.message.includes(variable),
    `expected a ConfigError naming ${variable} for ${JSON.stringify(env)}`,
  );
}

describe('loadConfig (config): defaults', () => {
  it('listens on 127.0.0.1:5000 with ./data, fs storage, no auth and the embedded database', () => {
    const config = loadConfig({});
    assert.deepEqual(config, {
      host: '127.0.0.1',
      port: 5000,
      dataDir: path.resolve('./data'),
      databaseUrl: undefined,
      embeddedPostgresPort: 5433,
      storage: { driver: 'fs', root: path.join(path.resolve('./data'), 'blobs') },
      auth: 'none',
      publicUrl: undefined,
      sparseManifests: false,
      uploadTtlMs: 24 * 3_600_000,
      logLevel: 'info',
      history: { retentionMs: 90 * 86_400_000, keep: 10 },
      immutableTags: [],
      gc: { graceMs: 24 * 3_600_000, intervalMs: null },
      quotas: [],
    });
    assert.ok(Object.isFrozen(config));
  });

  it('reads only the environment it is given, ignoring unrelated variables', () => {
    const config = loadConfig({ PATH: '/usr/bin', HOME: '/root', BERTH_UNKNOWN: 'x' });
    assert.equal(config.port, 5000);
  });

  it('takes every documented variable', () => {
    const config = loadConfig({
      BERTH_ADDR: 'localhost:8080',
      BERTH_DATA_DIR: '/var/lib/berth',
      DATABASE_URL: 'postgres://berth:secret@db.internal:5432/berth',
      BERTH_STORAGE: 'fs',
      BERTH_AUTH: 'none',
      BERTH_PUBLIC_URL: 'https://registry.example.com//',
      LOG_LEVEL: 'debug',
      BERTH_SPARSE_MANIFESTS: 'true',
      BERTH_EMBEDDED_PG_PORT: '6543',
    });
    assert.equal(config.host, 'localhost');
    assert.equal(config.port, 8080);
    assert.equal(config.dataDir, '/var/lib/berth');
    assert.deepEqual(config.storage, { driver: 'fs', root: '/var/lib/berth/blobs' });
    assert.equal(config.databaseUrl, 'postgres://berth:secret@db.internal:5432/berth');
    assert.equal(config.publicUrl, 'https://registry.example.com');
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.sparseManifests, true);
    assert.equal(config.embeddedPostgresPort, 6543);
  });

  for (const [value, expected] of [['true', true], ['1', true], ['yes', true], ['false', false], ['0', false], ['no', false]] as const) {
    it(`reads BERTH_SPARSE_MANIFESTS=${value} as ${expected}`, () => {
      assert.equal(loadConfig({ BERTH_SPARSE_MANIFESTS: value }).sparseManifests, expected);
    });
  }
});

describe('loadConfig (config): BERTH_ADDR', () => {
  const addrs: [string, string, number][] = [
    ['127.0.0.1:5000', '127.0.0.1', 5000],
    ['127.0.0.2:1', '127.0.0.2', 1],
    ['localhost:65535', 'localhost', 65535],
    ['[::1]:5000', '::1', 5000],
  ];
  for (const [addr, host, port] of addrs) {
    it(`parses ${addr} as host ${host}, port ${port}`, () => {
      assert.deepEqual(parseAddr(addr), { host, port });
      const config = loadConfig({ BERTH_ADDR: addr });
      assert.equal(config.host, host);
      assert.equal(config.port, port);
    });
  }

  it('reads an empty host as every interface', () => {
    assert.deepEqual(parseAddr(':5000'), { host: '0.0.0.0', port: 5000 });
  });

  for (const addr of ['127.0.0.1', '127.0.0.1:', '127.0.0.1:99999', '127.0.0.1:abc', '::1:5000', '[::1]', '[::1]5000', 'host:5000:1', '']) {
    it(`refuses BERTH_ADDR=${JSON.stringify(addr)} with a ConfigError naming BERTH_ADDR`, () => {
      assertRefused({ BERTH_ADDR: addr }, 'BERTH_ADDR');
    });
  }

  it('knows loopback hosts', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) assert.ok(isLoopback(host), host);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', 'registry.example.com', '128.0.0.1']) assert.equal(isLoopback(host), false, host);
  });
});

describe('loadConfig (config): safe by default beyond loopback', () => {
  for (const addr of ['0.0.0.0:5000', ':5000', '[::]:5000', '10.1.2.3:5000', 'registry.example.com:443']) {
    it(`refuses ${addr} without BERTH_ALLOW_ANONYMOUS_PUBLIC=true, naming that variable`, () => {
      assertRefused({ BERTH_ADDR: addr }, 'BERTH_ALLOW_ANONYMOUS_PUBLIC');
      assertRefused({ BERTH_ADDR: addr, BERTH_ALLOW_ANONYMOUS_PUBLIC: 'false' }, 'BERTH_ALLOW_ANONYMOUS_PUBLIC');
    });
  }

  it('listens on 0.0.0.0 when BERTH_ALLOW_ANONYMOUS_PUBLIC=true', () => {
    const config = loadConfig({ BERTH_ADDR: '0.0.0.0:5000', BERTH_ALLOW_ANONYMOUS_PUBLIC: 'true' });
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.port, 5000);
  });
});

describe('loadConfig (config): invalid values are refused with the variable named', () => {
  const cases: [string, string][] = [
    ['BERTH_ALLOW_ANONYMOUS_PUBLIC', 'maybe'],
    ['BERTH_SPARSE_MANIFESTS', 'TRUE!'],
    ['BERTH_STORAGE', 'ftp'],
    ['BERTH_AUTH', 'bogus'],
    ['LOG_LEVEL', 'verbose'],
    ['DATABASE_URL', 'not a url'],
    ['BERTH_PUBLIC_URL', 'registry.example.com'],
    ['BERTH_EMBEDDED_PG_PORT', '0'],
    ['BERTH_EMBEDDED_PG_PORT', '70000'],
    ['BERTH_EMBEDDED_PG_PORT', 'abc'],
    ['BERTH_EMBEDDED_PG_PORT', '5432.5'],
  ];
  for (const [variable, value] of cases) {
    it(`refuses ${variable}=${JSON.stringify(value)}`, () => {
      assertRefused({ [variable]: value }, variable);
    });
  }
});

describe('loadConfig (config): S3 storage', () => {
  it('reads the S3 settings with their defaults', () => {
    const config = loadConfig({ BERTH_STORAGE: 's3', BERTH_S3_BUCKET: 'images' });
    assert.deepEqual(config.storage, {
      driver: 's3',
      bucket: 'images',
      endpoint: undefined,
      region: 'us-east-1',
      forcePathStyle: false,
      prefix: '',
      redirect: false,
      createBucket: false,
    });
  });

  it('takes endpoint, path style, prefix, redirect and bucket creation', () => {
    const config = loadConfig({
      BERTH_STORAGE: 's3',
      BERTH_S3_BUCKET: 'images',
      BERTH_S3_ENDPOINT: 'http://127.0.0.1:9000',
      BERTH_S3_REGION: 'eu-west-1',
      BERTH_S3_FORCE_PATH_STYLE: 'true',
      BERTH_S3_PREFIX: 'team/registry/',
      BERTH_S3_REDIRECT: 'true',
      BERTH_S3_CREATE_BUCKET: 'true',
    });
    assert.equal(config.storage.driver, 's3');
    assert.ok(config.storage.driver === 's3' && config.storage.forcePathStyle && config.storage.redirect && config.storage.createBucket);
    assert.equal(config.storage.driver === 's3' && config.storage.prefix, 'team/registry/');
  });

  it('refuses s3 without a bucket, and a prefix that does not end in a slash', () => {
    assert.throws(() => loadConfig({ BERTH_STORAGE: 's3' }), (err: Error) => err instanceof ConfigError && /BERTH_S3_BUCKET/.test(err.message));
    assert.throws(
      () => loadConfig({ BERTH_STORAGE: 's3', BERTH_S3_BUCKET: 'images', BERTH_S3_PREFIX: 'no-slash' }),
      (err: Error) => err instanceof ConfigError && /BERTH_S3_PREFIX/.test(err.message),
    );
  });
});

describe('loadConfig (config): durations', () => {
  it('reads BERTH_UPLOAD_TTL written as 0s, 90m, 24h or 7d', () => {
    assert.equal(loadConfig({ BERTH_UPLOAD_TTL: '0s' }).uploadTtlMs, 0);
    assert.equal(loadConfig({ BERTH_UPLOAD_TTL: '90m' }).uploadTtlMs, 90 * 60_000);
    assert.equal(loadConfig({ BERTH_UPLOAD_TTL: '7d' }).uploadTtlMs, 7 * 86_400_000);
  });

  it('refuses other spellings, naming the variable', () => {
    for (const bad of ['24', '1.5h', '-1h', '24 hours', 'h']) {
      assert.throws(() => loadConfig({ BERTH_UPLOAD_TTL: bad }), (err: Error) => err instanceof ConfigError && /BERTH_UPLOAD_TTL/.test(err.message), bad);
    }
  });
});

describe('loadConfig (config): tag history and immutable tags', () => {
  it('reads BERTH_HISTORY_RETENTION as a duration or forever, and BERTH_HISTORY_KEEP', () => {
    assert.deepEqual(loadConfig({ BERTH_HISTORY_RETENTION: '14d', BERTH_HISTORY_KEEP: '3' }).history, { retentionMs: 14 * 86_400_000, keep: 3 });
    assert.deepEqual(loadConfig({ BERTH_HISTORY_RETENTION: 'forever', BERTH_HISTORY_KEEP: '0' }).history, { retentionMs: null, keep: 0 });
  });

  it('refuses other retention and keep values, naming the variable', () => {
    for (const bad of ['90', 'never', '-1d']) assertRefused({ BERTH_HISTORY_RETENTION: bad }, 'BERTH_HISTORY_RETENTION');
    for (const bad of ['-1', 'ten', '1.5']) assertRefused({ BERTH_HISTORY_KEEP: bad }, 'BERTH_HISTORY_KEEP');
  });

  it('reads BERTH_IMMUTABLE_TAGS rules', () => {
    const rules = [{ repository: 'team/*', tags: ['v*', 'release-?'] }, { repository: '*', tags: ['stable'], name: 'stable everywhere' }];
    assert.deepEqual(loadConfig({ BERTH_IMMUTABLE_TAGS: JSON.stringify(rules) }).immutableTags, rules);
  });

  it('refuses malformed rules, naming the variable', () => {
    for (const bad of [
      'v*',
      '{"repository":"team/*","tags":["v*"]}',
      '[{"repository":"team/*"}]',
      '[{"repository":"team/*","tags":[]}]',
      '[{"repository":"team/*","tags":["v 1"]}]',
      '[{"repository":"team/*","tags":["v*"],"tag":"x"}]',
    ]) {
      assertRefused({ BERTH_IMMUTABLE_TAGS: bad }, 'BERTH_IMMUTABLE_TAGS');
    }
  });
});

describe('loadConfig (config): garbage collection and quotas', () => {
  it('reads BERTH_GC_GRACE as a duration and BERTH_GC_INTERVAL as a duration or off', () => {
    assert.deepEqual(loadConfig({ BERTH_GC_GRACE: '0s', BERTH_GC_INTERVAL: '30m' }).gc, { graceMs: 0, intervalMs: 30 * 60_000 });
    assert.deepEqual(loadConfig({ BERTH_GC_GRACE: '7d', BERTH_GC_INTERVAL: 'off' }).gc, { graceMs: 7 * 86_400_000, intervalMs: null });
  });

  it('refuses other grace and interval values, naming the variable', () => {
    for (const bad of ['24', '-1h', 'off', '1.5h']) assertRefused({ BERTH_GC_GRACE: bad }, 'BERTH_GC_GRACE');
    for (const bad of ['0s', '10', 'never', '1 h']) assertRefused({ BERTH_GC_INTERVAL: bad }, 'BERTH_GC_INTERVAL');
  });

  it('reads BERTH_QUOTAS with sizes in bytes, SI and binary units', () => {
    const quotas = loadConfig({
      BERTH_QUOTAS: JSON.stringify([
        { repository: 'team/*', bytes: '10GiB' },
        { repository: 'big', bytes: '1.5 TB' },
        { repository: 'tiny/?', bytes: 1024 },
        { repository: 'x', bytes: '500MB' },
        { repository: 'y', bytes: '2048' },
      ]),
    }).quotas;
    assert.deepEqual(quotas, [
      { repository: 'team/*', bytes: 10 * 1024 ** 3 },
      { repository: 'big', bytes: 1.5e12 },
      { repository: 'tiny/?', bytes: 1024 },
      { repository: 'x', bytes: 500e6 },
      { repository: 'y', bytes: 2048 },
    ]);
  });

  it('refuses malformed quotas, naming the variable', () => {
    for (const bad of [
      'team/*',
      '{"repository":"team/*","bytes":"1GiB"}',
      '[{"repository":"team/*"}]',
      '[{"repository":"team/*","bytes":"lots"}]',
      '[{"repository":"team/*","bytes":-5}]',
      '[{"repository":"team/*","bytes":"10 GB","tags":["x"]}]',
      '[{"repository":"team app","bytes":"1GiB"}]',
      '[{"repository":"team/*","bytes":"10XB"}]',
    ]) {
      assertRefused({ BERTH_QUOTAS: bad }, 'BERTH_QUOTAS');
    }
  });
});
