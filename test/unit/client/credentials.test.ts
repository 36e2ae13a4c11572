// Where the CLI finds credentials: flags and environment first, then what `docker login` left in a
// docker config.json — a plain `auth`, an `identitytoken`, and credential helpers (`credHelpers`
// per registry, `credsStore` for all), run as real executables on PATH exactly as docker runs them.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CredentialHelperError, resolveCredentials } from '../../../src/client/credentials.js';
import { UsageError } from '../../../src/usage-error.js';

const HOST = '127.0.0.1:5000';
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('CLI credentials from flags, environment and the docker config', () => {
  let dir: string;
  let bin: string;
  let env: NodeJS.ProcessEnv;

  /** A docker config dir holding `config`; returns its path. */
  async function dockerConfig(config: unknown): Promise<string> {
    const d = await mkdtemp(path.join(dir, 'docker-'));
    await writeFile(path.join(d, 'config.json'), JSON.stringify(config));
    return d;
  }

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-credentials-'));
    bin = path.join(dir, 'bin');
    await mkdir(bin);
    // docker-credential-test: records its argument and stdin, answers from a fixed table like a real helper.
    await writeFile(
      path.join(bin, 'docker-credential-test'),
      `#!/bin/sh
server=$(cat)
echo "$1 $server" >> "${dir}/helper-calls"
case "$server" in
  ${HOST}) echo '{"ServerURL":"${HOST}","Username":"alice","Secret":"from-helper"}' ;;
  token.example:5000) echo '{"ServerURL":"token.example:5000","Username":"<token>","Secret":"refresh-from-helper"}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`,
    );
    await writeFile(path.join(bin, 'docker-credential-broken'), '#!/bin/sh\necho "gpg: decryption failed" >&2\nexit 3\n');
    await chmod(path.join(bin, 'docker-credential-test'), 0o755);
    await chmod(path.join(bin, 'docker-credential-broken'), 0o755);
    env = { PATH: `${bin}:${process.env.PATH}` };
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('takes --username/--password, then BERTH_USERNAME/BERTH_PASSWORD, before any docker config', async () => {
    const docker = await dockerConfig({ auths: { [HOST]: { auth: b64('bob:docker') } } });
    assert.deepEqual(await resolveCredentials(HOST, { username: 'u', password: 'p', env, dockerConfigDir: docker }), { username: 'u', password: 'p' });
    assert.deepEqual(await resolveCredentials(HOST, { env: { ...env, BERTH_USERNAME: 'e', BERTH_PASSWORD: 'q' }, dockerConfigDir: docker }), { username: 'e', password: 'q' });
    await assert.rejects(resolveCredentials(HOST, { username: 'only-me', env, dockerConfigDir: docker }), UsageError);
  });

  it('reads a plain auth entry, matching docker keys with a scheme or a path', async () => {
    const docker = await dockerConfig({ auths: { [`https://${HOST}/v1/`]: { auth: b64('bob:pw:with:colons') } } });
    assert.deepEqual(await resolveCredentials(HOST, { env, dockerConfigDir: docker }), { username: 'bob', password: 'pw:with:colons' });
    assert.equal(await resolveCredentials('other:5000', { env, dockerConfigDir: docker }), undefined);
  });

  it('uses the identitytoken Berth gave docker at login, not the empty password next to it', async () => {
    const docker = await dockerConfig({ auths: { [HOST]: { auth: b64('alice:'), identitytoken: 'refresh-token-1' } } });
    assert.deepEqual(await resolveCredentials(HOST, { env, dockerConfigDir: docker }), { username: 'alice', identityToken: 'refresh-token-1' });
  });

  it('runs the credsStore helper with the server on stdin, and credHelpers before it for their registry', async () => {
    const store = await dockerConfig({ auths: { [HOST]: {} }, credsStore: 'test' });
    assert.deepEqual(await resolveCredentials(HOST, { env, dockerConfigDir: store }), { username: 'alice', password: 'from-helper' });
    assert.equal(await resolveCredentials('unknown.example:5000', { env, dockerConfigDir: store }), undefined, 'the helper has nothing for it');
    const perHost = await dockerConfig({ credsStore: 'broken', credHelpers: { 'token.example:5000': 'test' } });
    assert.deepEqual(await resolveCredentials('token.example:5000', { env, dockerConfigDir: perHost }), { username: undefined, identityToken: 'refresh-from-helper' });
    const calls = (await readFile(path.join(dir, 'helper-calls'), 'utf8')).trim().split('\n');
    assert.deepEqual(calls, [`get ${HOST}`, 'get unknown.example:5000', 'get token.example:5000']);
  });

  it('says which helper failed or is missing instead of going on anonymously', async () => {
    const broken = await dockerConfig({ credsStore: 'broken' });
    await assert.rejects(resolveCredentials(HOST, { env, dockerConfigDir: broken }), (err: Error) => err instanceof CredentialHelperError && /docker-credential-broken get failed: gpg: decryption failed/.test(err.message));
    const missing = await dockerConfig({ credHelpers: { [HOST]: 'nosuch' } });
    await assert.rejects(resolveCredentials(HOST, { env, dockerConfigDir: missing }), /"nosuch", but docker-credential-nosuch is not on PATH/);
  });

  it('goes anonymous without a docker config, and with one that is not JSON', async () => {
    assert.equal(await resolveCredentials(HOST, { env, dockerConfigDir: path.join(dir, 'none') }), undefined);
    const d = await mkdtemp(path.join(dir, 'bad-'));
    await writeFile(path.join(d, 'config.json'), '{not json');
    assert.equal(await resolveCredentials(HOST, { env, dockerConfigDir: d }), undefined);
  });
});
