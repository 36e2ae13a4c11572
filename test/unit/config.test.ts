import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { generateKeyPairSync } from 'node:crypto';
import { ConfigError, isLoopback, loadConfig, parseAddr } from '../../src/config.js';

const ED25519_PEM = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

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
      embeddedPostgresPort: undefined,
      storage: { driver: 'fs', root: path.join(path.resolve('./data'), 'blobs') },
      auth: 'none',
      tokenAuth: undefined,
      adminBootstrap: undefined,
      trustProxy: false,
      publicUrl: undefined,
      sparseManifests: false,
      ui: true,
      uploadTtlMs: 24 * 3_600_000,
      minFreeSpace: { bytes: 1024 ** 3, percent: 5 },
      logLevel: 'info',
      history: { retentionMs: 90 * 86_400_000, keep: 10 },
      immutableTags: [],
      tls: undefined,
      metricsAddr: undefined,
      shutdownTimeoutMs: 30_000,
      webhooks: [],
      gc: { graceMs: 24 * 3_600_000, intervalMs: null },
      quotas: [],
      proxies: [],
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

  it('serves the web UI unless BERTH_UI=false', () => {
    assert.equal(loadConfig({}).ui, true);
    assert.equal(loadConfig({ BERTH_UI: 'false' }).ui, false);
  });
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
    it(`refuses ${addr} with BERTH_AUTH=none (explicit or default) unless BERTH_ALLOW_ANONYMOUS_PUSH=true, naming both ways out`, () => {
      assertRefused({ BERTH_ADDR: addr }, 'BERTH_ALLOW_ANONYMOUS_PUSH');
      assertRefused({ BERTH_ADDR: addr }, 'BERTH_AUTH=token');
      assertRefused({ BERTH_ADDR: addr, BERTH_AUTH: 'none' }, 'BERTH_ALLOW_ANONYMOUS_PUSH');
      assertRefused({ BERTH_ADDR: addr, BERTH_ALLOW_ANONYMOUS_PUSH: 'false' }, 'BERTH_ALLOW_ANONYMOUS_PUSH');
    });
  }

  it('listens on 0.0.0.0 with BERTH_AUTH=token, or with BERTH_ALLOW_ANONYMOUS_PUSH=true', () => {
    assert.equal(loadConfig({ BERTH_ADDR: '0.0.0.0:5000', BERTH_AUTH: 'token' }).host, '0.0.0.0');
    const config = loadConfig({ BERTH_ADDR: '0.0.0.0:5000', BERTH_ALLOW_ANONYMOUS_PUSH: 'true' });
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.port, 5000);
    assert.equal(config.auth, 'none');
  });

  it('still honours the earlier name BERTH_ALLOW_ANONYMOUS_PUBLIC; BERTH_ALLOW_ANONYMOUS_PUSH wins when both are set', () => {
    assert.equal(loadConfig({ BERTH_ADDR: '0.0.0.0:5000', BERTH_ALLOW_ANONYMOUS_PUBLIC: 'true' }).host, '0.0.0.0');
    assertRefused({ BERTH_ADDR: '0.0.0.0:5000', BERTH_ALLOW_ANONYMOUS_PUBLIC: 'true', BERTH_ALLOW_ANONYMOUS_PUSH: 'false' }, 'BERTH_ALLOW_ANONYMOUS_PUSH');
  });
});

describe('loadConfig (config): BERTH_AUTH=token', () => {
  it('has defaults: service and issuer "berth", 5 min tokens, 30 d refresh tokens, ES256, a generated key, limits', () => {
    const config = loadConfig({ BERTH_AUTH: 'token' });
    assert.equal(config.auth, 'token');
    assert.deepEqual(config.tokenAuth, {
      issuer: 'berth',
      service: 'berth',
      accessTtlS: 300,
      refreshTtlS: 30 * 86_400,
      algorithm: 'ES256',
      privateKeyPem: undefined,
      externalIssuers: [],
      loginLimits: { maxPerAccount: 10, maxPerAddress: 50, windowMs: 15 * 60_000 },
    });
  });

  it('takes every token setting', () => {
    const pem = ED25519_PEM;
    const issuers = [
      { issuer: 'https://ci.example', audience: 'berth', jwksUrl: 'https://ci.example/jwks' },
      { issuer: 'corp', audience: 'registry', publicKey: '-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----', algorithms: ['RS256'] },
    ];
    const config = loadConfig({
      BERTH_AUTH: 'token',
      BERTH_TOKEN_SERVICE: 'registry.example.com',
      BERTH_TOKEN_ISSUER: 'https://registry.example.com',
      BERTH_TOKEN_TTL: '10m',
      BERTH_REFRESH_TOKEN_TTL: '7d',
      BERTH_TOKEN_ALGORITHM: 'EdDSA',
      BERTH_TOKEN_KEY: pem,
      BERTH_TOKEN_ISSUERS: JSON.stringify(issuers),
      BERTH_ADMIN_USER: 'admin',
      BERTH_ADMIN_PASSWORD: 'long-enough',
      BERTH_LOGIN_MAX_FAILURES: '3',
      BERTH_LOGIN_MAX_FAILURES_PER_ADDRESS: '9',
      BERTH_LOGIN_LOCKOUT: '1h',
      BERTH_TRUST_PROXY: 'true',
    });
    assert.deepEqual(config.tokenAuth, {
      issuer: 'https://registry.example.com',
      service: 'registry.example.com',
      accessTtlS: 600,
      refreshTtlS: 7 * 86_400,
      algorithm: 'EdDSA',
      privateKeyPem: pem,
      externalIssuers: [
        { issuer: 'https://ci.example', audience: 'berth', jwksUrl: 'https://ci.example/jwks', publicKeyPem: undefined, algorithms: ['RS256', 'ES256', 'EdDSA'] },
        { issuer: 'corp', audience: 'registry', jwksUrl: undefined, publicKeyPem: issuers[1]!.publicKey, algorithms: ['RS256'] },
      ],
      loginLimits: { maxPerAccount: 3, maxPerAddress: 9, windowMs: 3_600_000 },
    });
    assert.deepEqual(config.adminBootstrap, { user: 'admin', password: 'long-enough' });
    assert.equal(config.trustProxy, true);
  });

  const refusals: [string, NodeJS.ProcessEnv, string][] = [
    ['a token lifetime under 60 s', { BERTH_TOKEN_TTL: '59s' }, 'BERTH_TOKEN_TTL'],
    ['refresh tokens shorter than access tokens', { BERTH_TOKEN_TTL: '1h', BERTH_REFRESH_TOKEN_TTL: '30m' }, 'BERTH_REFRESH_TOKEN_TTL'],
    ['an unknown algorithm', { BERTH_TOKEN_ALGORITHM: 'HS256' }, 'BERTH_TOKEN_ALGORITHM'],
    ['a key that is not PEM', { BERTH_TOKEN_KEY: 'secret' }, 'BERTH_TOKEN_KEY'],
    ['the placeholder key of deploy/kubernetes/secret.yaml', { BERTH_TOKEN_KEY: '-----BEGIN PRIVATE KEY-----\nchange-me\n-----END PRIVATE KEY-----\n' }, 'BERTH_TOKEN_KEY is not a readable PEM private key'],
    ['a key file that cannot be read', { BERTH_TOKEN_KEY_FILE: '/nonexistent/key.pem' }, 'BERTH_TOKEN_KEY_FILE'],
    ['issuers that are not JSON', { BERTH_TOKEN_ISSUERS: '{nope' }, 'BERTH_TOKEN_ISSUERS'],
    ['an issuer with neither JWKS nor key', { BERTH_TOKEN_ISSUERS: '[{"issuer":"x","audience":"y"}]' }, 'BERTH_TOKEN_ISSUERS'],
    ['an issuer allowing HS256', { BERTH_TOKEN_ISSUERS: '[{"issuer":"x","audience":"y","jwksUrl":"https://x/j","algorithms":["HS256"]}]' }, 'BERTH_TOKEN_ISSUERS'],
    ['an issuer named like Berth itself', { BERTH_TOKEN_ISSUERS: '[{"issuer":"berth","audience":"y","jwksUrl":"https://x/j"}]' }, 'BERTH_TOKEN_ISSUERS'],
    ['an admin without a password', { BERTH_ADMIN_USER: 'admin' }, 'BERTH_ADMIN_PASSWORD'],
    ['a short admin password', { BERTH_ADMIN_USER: 'admin', BERTH_ADMIN_PASSWORD: 'short' }, 'BERTH_ADMIN_PASSWORD'],
    ['a zero failure limit', { BERTH_LOGIN_MAX_FAILURES: '0' }, 'BERTH_LOGIN_MAX_FAILURES'],
    ['a service with a quote', { BERTH_TOKEN_SERVICE: 'a"b' }, 'BERTH_TOKEN_SERVICE'],
  ];
  for (const [what, env, variable] of refusals) {
    it(`refuses ${what}, naming ${variable}`, () => assertRefused({ BERTH_AUTH: 'token', ...env }, variable));
  }

  it('reads a BERTH_TOKEN_KEY written on one line with literal \\n, and BERTH_TOKEN_KEY_FILE', async () => {
    const pem = ED25519_PEM;
    const oneLine = pem.replace(/\n/g, '\\n');
    assert.equal(loadConfig({ BERTH_AUTH: 'token', BERTH_TOKEN_KEY: oneLine }).tokenAuth?.privateKeyPem, pem);
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-key-'));
    try {
      await writeFile(path.join(dir, 'key.pem'), pem);
      assert.equal(loadConfig({ BERTH_AUTH: 'token', BERTH_TOKEN_KEY_FILE: path.join(dir, 'key.pem') }).tokenAuth?.privateKeyPem, pem);
      assertRefused({ BERTH_AUTH: 'token', BERTH_TOKEN_KEY_FILE: path.join(dir, 'key.pem'), BERTH_TOKEN_KEY: pem }, 'BERTH_TOKEN_KEY_FILE');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses BERTH_ADMIN_USER without BERTH_AUTH=token (there would be no accounts)', () => {
    assertRefused({ BERTH_ADMIN_USER: 'admin', BERTH_ADMIN_PASSWORD: 'long-enough' }, 'BERTH_AUTH=token');
  });
});

describe('loadConfig (config): invalid values are refused with the variable named', () => {
  const cases: [string, string][] = [
    ['BERTH_ALLOW_ANONYMOUS_PUBLIC', 'maybe'],
    ['BERTH_ALLOW_ANONYMOUS_PUSH', 'maybe'],
    ['BERTH_TRUST_PROXY', 'sure'],
    ['BERTH_SPARSE_MANIFESTS', 'TRUE!'],
    ['BERTH_UI', 'off'],
    ['BERTH_STORAGE', 'ftp'],
    ['BERTH_AUTH', 'bogus'],
    ['LOG_LEVEL', 'verbose'],
    ['DATABASE_URL', 'not a url'],
    ['DATABASE_URL', 'mysql://berth:berth@127.0.0.1:3306/berth'],
    ['BERTH_PUBLIC_URL', 'registry.example.com'],
    ['BERTH_EMBEDDED_PG_PORT', '0'],
    ['BERTH_EMBEDDED_PG_PORT', '70000'],
    ['BERTH_EMBEDDED_PG_PORT', 'abc'],
    ['BERTH_EMBEDDED_PG_PORT', '5432.5'],
    ['BERTH_TRUST_PROXY', 'sometimes'],
    ['BERTH_METRICS_ADDR', '9090'],
    ['BERTH_METRICS_ADDR', '127.0.0.1:99999'],
    ['BERTH_SHUTDOWN_TIMEOUT', '30'],
    ['BERTH_WEBHOOKS', 'not json'],
    ['BERTH_WEBHOOKS', '{"url":"http://127.0.0.1:9/"}'],
    ['BERTH_WEBHOOKS', '[{"url":"ftp://example.com/"}]'],
    ['BERTH_WEBHOOKS', '[{"url":"http://127.0.0.1:9/","events":["pull"]}]'],
    ['BERTH_WEBHOOKS', '[{"url":"http://127.0.0.1:9/","events":[]}]'],
    ['BERTH_WEBHOOKS', '[{"url":"http://127.0.0.1:9/","secret":""}]'],
    ['BERTH_WEBHOOKS', '[{"url":"http://127.0.0.1:9/","headers":{}}]'],
    ['BERTH_TLS_CERT', '/etc/berth/tls.crt'],
    ['BERTH_TLS_KEY', '/etc/berth/tls.key'],
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
  it('reads BERTH_MIN_FREE_SPACE as a size, a percentage or 0, and refuses anything else', () => {
    assert.deepEqual(loadConfig({}).minFreeSpace, { bytes: 1024 ** 3, percent: 5 });
    assert.deepEqual(loadConfig({ BERTH_MIN_FREE_SPACE: '2GiB' }).minFreeSpace, { bytes: 2 * 1024 ** 3, percent: 0 });
    assert.deepEqual(loadConfig({ BERTH_MIN_FREE_SPACE: '500MB' }).minFreeSpace, { bytes: 500e6, percent: 0 });
    assert.deepEqual(loadConfig({ BERTH_MIN_FREE_SPACE: '10%' }).minFreeSpace, { bytes: 0, percent: 10 });
    assert.deepEqual(loadConfig({ BERTH_MIN_FREE_SPACE: '0' }).minFreeSpace, { bytes: 0, percent: 0 });
    for (const bad of ['lots', '100%', '-1GiB', '5 %%', '1e9', '2 parsecs']) {
      assert.throws(() => loadConfig({ BERTH_MIN_FREE_SPACE: bad }), (err: Error) => err instanceof ConfigError && /BERTH_MIN_FREE_SPACE/.test(err.message), bad);
    }
  });

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

describe('loadConfig (config): production settings', () => {
  it('reads proxy trust, TLS files, the metrics address and the shutdown timeout', () => {
    const config = loadConfig({
      BERTH_TRUST_PROXY: 'true',
      BERTH_TLS_CERT: '/etc/berth/tls.crt',
      BERTH_TLS_KEY: '/etc/berth/tls.key',
      BERTH_METRICS_ADDR: '127.0.0.1:9090',
      BERTH_SHUTDOWN_TIMEOUT: '90s',
    });
    assert.equal(config.trustProxy, true);
    assert.deepEqual(config.tls, { certFile: '/etc/berth/tls.crt', keyFile: '/etc/berth/tls.key' });
    assert.deepEqual(config.metricsAddr, { host: '127.0.0.1', port: 9090 });
    assert.equal(config.shutdownTimeoutMs, 90_000);
  });

  it('reads BERTH_WEBHOOKS: events default to all actions, secrets are optional', () => {
    const config = loadConfig({
      BERTH_WEBHOOKS: JSON.stringify([
        { url: 'https://ci.example.com/hooks/berth', secret: 'k' },
        { url: 'http://127.0.0.1:8080/only-deletes', events: ['delete', 'rollback'] },
      ]),
    });
    assert.deepEqual(config.webhooks, [
      { url: 'https://ci.example.com/hooks/berth', events: ['push', 'delete', 'tag', 'rollback'], secret: 'k' },
      { url: 'http://127.0.0.1:8080/only-deletes', events: ['delete', 'rollback'], secret: undefined },
    ]);
  });

  it('an empty BERTH_WEBHOOKS means none', () => {
    assert.deepEqual(loadConfig({ BERTH_WEBHOOKS: ' ' }).webhooks, []);
    assert.deepEqual(loadConfig({ BERTH_WEBHOOKS: '[]' }).webhooks, []);
  });

  it('says which webhook field is wrong', () => {
    assert.throws(
      () => loadConfig({ BERTH_WEBHOOKS: '[{"url":"http://a.example/"},{"url":"http://b.example/","events":["pull"]}]' }),
      (err: Error) => err instanceof ConfigError && /BERTH_WEBHOOKS: 1\.events\.0/.test(err.message),
    );
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

describe('loadConfig (config): BERTH_PROXIES', () => {
  it('reads pull-through caches with their defaults; Docker Hub gets library/ for one-component names', () => {
    const proxies = loadConfig({
      BERTH_PROXIES: JSON.stringify([
        { prefix: 'hub', upstream: 'https://registry-1.docker.io/', mirror: true, tagTtl: '10m', keep: '30d' },
        { prefix: 'ghcr', upstream: 'https://ghcr.io', username: 'bot', password: 'pat-1', tagTtl: '1h', timeout: '5s' },
        { prefix: 'quay', upstream: 'http://127.0.0.1:5001', token: 't0k', library: true },
      ]),
    }).proxies;
    assert.deepEqual(proxies, [
      { prefix: 'hub', upstream: 'https://registry-1.docker.io', mirror: true, libraryPrefix: true, credentials: undefined, tagTtlMs: 600_000, keepMs: 30 * 86_400_000, timeoutMs: 10_000 },
      { prefix: 'ghcr', upstream: 'https://ghcr.io', mirror: false, libraryPrefix: false, credentials: { username: 'bot', password: 'pat-1' }, tagTtlMs: 3_600_000, keepMs: 30 * 86_400_000, timeoutMs: 5000 },
      { prefix: 'quay', upstream: 'http://127.0.0.1:5001', mirror: false, libraryPrefix: true, credentials: { token: 't0k' }, tagTtlMs: 600_000, keepMs: 30 * 86_400_000, timeoutMs: 10_000 },
    ]);
    assert.deepEqual(loadConfig({ BERTH_PROXIES: ' ' }).proxies, []);
  });

  it('refuses malformed caches, naming the variable', () => {
    for (const bad of [
      'hub',
      '{"prefix":"hub","upstream":"https://r.example"}',
      '[{"prefix":"hub"}]',
      '[{"prefix":"hub/x","upstream":"https://r.example"}]',
      '[{"prefix":"Hub","upstream":"https://r.example"}]',
      '[{"prefix":"hub","upstream":"ftp://r.example"}]',
      '[{"prefix":"hub","upstream":"https://r.example","tagTtl":"soon"}]',
      '[{"prefix":"hub","upstream":"https://r.example","keep":"-1d"}]',
      '[{"prefix":"hub","upstream":"https://r.example","timeout":"0s"}]',
      '[{"prefix":"hub","upstream":"https://r.example","username":"u"}]',
      '[{"prefix":"hub","upstream":"https://r.example","username":"u","password":"p","token":"t"}]',
      '[{"prefix":"hub","upstream":"https://r.example","mirrors":true}]',
      '[{"prefix":"hub","upstream":"https://a.example"},{"prefix":"hub","upstream":"https://b.example"}]',
      '[{"prefix":"a","upstream":"https://a.example","mirror":true},{"prefix":"b","upstream":"https://b.example","mirror":true}]',
    ]) {
      assertRefused({ BERTH_PROXIES: bad }, 'BERTH_PROXIES');
    }
  });

  it('never puts a credential into its refusal', () => {
    try {
      loadConfig({ BERTH_PROXIES: '[{"prefix":"hub","upstream":"https://r.example","username":"u","password":"hunter2-secret","tagTtl":"x"}]' });
      assert.fail('expected a refusal');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.doesNotMatch(err.message, /hunter2-secret/);
    }
  });
});

describe('loadConfig (config): the four JSON settings are refused alike', () => {
  /** The refusal's message, which must name the variable on every line it adds. */
  function refusal(env: NodeJS.ProcessEnv): string {
    try {
      loadConfig(env);
    } catch (err) {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      return err.message;
    }
    assert.fail(`expected ${JSON.stringify(env)} to be refused`);
  }

  const settings: { variable: string; env?: NodeJS.ProcessEnv; wrong: string; where: RegExp; example: RegExp }[] = [
    {
      variable: 'BERTH_IMMUTABLE_TAGS',
      wrong: '[{"repository":"team/*","tags":["v*"]},{"repository":"app","tags":[]}]',
      where: /BERTH_IMMUTABLE_TAGS: 1\.tags: .*>=1/,
      example: /"repository":"team\/\*","tags":\["v\*"\]/,
    },
    {
      variable: 'BERTH_QUOTAS',
      wrong: '[{"repository":"team/*","bytes":"lots"}]',
      where: /BERTH_QUOTAS: 0\.bytes: "lots" is not a size/,
      example: /"repository":"team\/\*","bytes":"10GiB"/,
    },
    {
      variable: 'BERTH_WEBHOOKS',
      wrong: '[{"url":"http://a.example/"},{"url":"http://b.example/","events":["pull"]}]',
      where: /BERTH_WEBHOOKS: 1\.events\.0: .*"push"/,
      example: /"url":"https:\/\/ci\.example\.com\/hooks\/berth"/,
    },
    {
      variable: 'BERTH_TOKEN_ISSUERS',
      env: { BERTH_AUTH: 'token' },
      wrong: '[{"issuer":"x","audience":"y"}]',
      where: /BERTH_TOKEN_ISSUERS: 0: give exactly one of jwksUrl and publicKey/,
      example: /"issuer":"https:\/\/ci\.example\.com","audience":"berth","jwksUrl"/,
    },
  ];

  for (const { variable, env, wrong, where, example } of settings) {
    it(`refuses ${variable} that is not JSON, with an example`, () => {
      const message = refusal({ ...env, [variable]: '{nope' });
      assert.match(message, new RegExp(`${variable}: must be JSON, e\\.g\\. `));
      assert.match(message, example);
    });

    it(`refuses ${variable} that is not an array, saying so, with an example`, () => {
      const message = refusal({ ...env, [variable]: '{"a":1}' });
      assert.match(message, new RegExp(`${variable}: \\(root\\): .*expected array`));
      assert.match(message, new RegExp(`${variable}: for example: `));
      assert.match(message, example);
    });

    it(`refuses a wrong field in ${variable}, naming where it is, with an example`, () => {
      const message = refusal({ ...env, [variable]: wrong });
      assert.match(message, where);
      assert.match(message, example);
    });

    it(`the example shown for ${variable} is itself accepted`, () => {
      const shown = /(?:e\.g\.|for example:) (\[.*\])$/m.exec(refusal({ ...env, [variable]: '{nope' }))?.[1];
      assert.ok(shown, 'an example is shown');
      assert.doesNotThrow(() => loadConfig({ ...env, [variable]: shown }));
    });
  }

  it('reads BERTH_TOKEN_ISSUERS only with BERTH_AUTH=token, as before', () => {
    assert.equal(loadConfig({ BERTH_TOKEN_ISSUERS: '{nope' }).tokenAuth, undefined);
  });

  it('takes a blank BERTH_WEBHOOKS or BERTH_TOKEN_ISSUERS as unset, and refuses a blank BERTH_IMMUTABLE_TAGS or BERTH_QUOTAS', () => {
    assert.deepEqual(loadConfig({ BERTH_WEBHOOKS: '  ' }).webhooks, []);
    assert.deepEqual(loadConfig({ BERTH_AUTH: 'token', BERTH_TOKEN_ISSUERS: ' ' }).tokenAuth?.externalIssuers, []);
    assertRefused({ BERTH_IMMUTABLE_TAGS: ' ' }, 'BERTH_IMMUTABLE_TAGS');
    assertRefused({ BERTH_QUOTAS: '' }, 'BERTH_QUOTAS');
  });
});
