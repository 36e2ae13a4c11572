// `berth gc | fsck | du` as an operator runs them, next to a running Berth (a real process) that
// uses its embedded PostgreSQL: the commands must reach that database rather than start a second
// one on the same files. And the background collector (BERTH_GC_INTERVAL) of a running server.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import supertest from 'supertest';
import { runningEmbeddedUrl } from '../../src/db/embedded.js';
import { runCli } from '../helpers/berth-cli.js';
import { freePort, startRegistry, type RegistryInstance } from '../helpers/berth-process.js';
import { OCI_MANIFEST, buildImage, pushImage, sha256 } from '../helpers/oci.js';

function berth(args: string[], env: Record<string, string>) {
  return runCli(args, { LOG_LEVEL: 'warn', ...env });
}

/** Starts Berth on its embedded PostgreSQL (no DATABASE_URL) in a fresh data directory. */
async function startEmbedded(env: Record<string, string>): Promise<RegistryInstance> {
  const saved = process.env.DATABASE_URL;
  delete process.env.DATABASE_URL;
  try {
    return await startRegistry({ env, timeoutMs: 90_000 });
  } finally {
    process.env.DATABASE_URL = saved;
  }
}

describe('berth gc | fsck | du next to a running Berth on its embedded PostgreSQL', () => {
  let reg: RegistryInstance;
  let agent: ReturnType<typeof supertest.agent>;
  let cliEnv: Record<string, string>;
  before(async () => {
    reg = await startEmbedded({ BERTH_GC_GRACE: '24h' });
    agent = supertest.agent(reg.url);
    // A TCP port the server's PostgreSQL does not have: the command must find the running one from its pid file.
    cliEnv = { ...reg.settings(), BERTH_EMBEDDED_PG_PORT: String(await freePort()), BERTH_GC_GRACE: '0s', BERTH_REGISTRY: reg.url };
    // Tag history keeps nothing it does not have to: an untagged image is garbage at once.
    Object.assign(cliEnv, { BERTH_HISTORY_RETENTION: '0s', BERTH_HISTORY_KEEP: '0' });
  });
  after(() => reg?.destroy());

  it('gc --dry-run lists what would go; gc removes it while the server keeps serving; fsck --deep finds no problem', async () => {
    const kept = await pushImage(agent, 'cli/app', 'v1');
    const garbage = await pushImage(agent, 'cli/app', 'tmp', buildImage());
    await agent.delete('/v2/cli/app/manifests/tmp').expect(202);

    const dry = await berth(['gc', '--dry-run'], cliEnv);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`^would remove manifest cli/app@${garbage.digest}$`, 'm'));
    assert.match(dry.stdout, new RegExp(`^would remove blob ${sha256(garbage.config)}$`, 'm'));
    assert.match(dry.stdout, /^garbage collection \(dry run\): would remove 1 manifest\(s\) \(.+\), 3 blob\(s\) \(.+ reclaimed\), would abort 0 stale upload\(s\) in [\d.]+ s$/m);
    await agent.get(`/v2/cli/app/manifests/${garbage.digest}`).set('Accept', OCI_MANIFEST).expect(200);

    const real = await berth(['gc'], cliEnv);
    assert.equal(real.code, 0, real.stderr);
    assert.match(real.stdout, new RegExp(`^removed manifest cli/app@${garbage.digest}$`, 'm'));
    assert.match(real.stdout, /^garbage collection: removed 1 manifest\(s\) \(.+\), 3 blob\(s\) \(1\.\d KiB reclaimed\), aborted 0 stale upload\(s\)/m);
    await agent.get(`/v2/cli/app/manifests/${garbage.digest}`).set('Accept', OCI_MANIFEST).expect(404);
    await agent.get(`/v2/cli/app/blobs/${sha256(garbage.layers[0]!)}`).expect(404);
    await agent.get('/v2/cli/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
    await agent.get(`/v2/cli/app/blobs/${sha256(kept.layers[1]!)}`).redirects(0).expect(200);

    const json = await berth(['gc', '--json'], cliEnv);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).manifests.deleted, 0);

    const check = await berth(['fsck', '--deep'], cliEnv);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /^fsck --deep: 3 blob\(s\) \(.+\) checked, 3 object\(s\) in the store: no problems$/m);
  });

  it('fsck exits 1 and names the blob when the store and PostgreSQL disagree', async () => {
    const url = await runningEmbeddedUrl(reg.dataDir);
    assert.ok(url);
    const client = new pg.Client(url);
    await client.connect();
    let digest: string;
    try {
      const { rows } = await client.query<{ digest: string }>('UPDATE blobs SET size = size + 1 WHERE digest = (SELECT min(digest) FROM blobs) RETURNING digest');
      digest = rows[0]!.digest;
      const r = await berth(['fsck'], cliEnv);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`^size +${digest}: PostgreSQL says \\d+ bytes, the store holds \\d+$`, 'm'));
      assert.match(r.stdout, /: 1 problem\(s\)$/m);
    } finally {
      await client.query('UPDATE blobs SET size = size - 1 WHERE digest = (SELECT min(digest) FROM blobs)');
      await client.end();
    }
  });

  it('du shows the logical size of each repository; bad input is refused with a message', async () => {
    const du = await berth(['du'], cliEnv);
    assert.equal(du.code, 0, du.stderr);
    const lines = du.stdout.trim().split('\n');
    assert.match(lines[0]!, /^REPOSITORY\s+SIZE\s+BLOBS\s+MANIFESTS\s+TAGS\s+QUOTA$/);
    assert.match(lines[1]!, /^cli\/app\s+1\.\d KiB\s+3\s+1\s+1\s+-$/);
    const json = await berth(['du', 'cli/app', '--json'], cliEnv);
    assert.equal(JSON.parse(json.stdout)[0].blobs, 3);
    const unknown = await berth(['du', 'no/such'], cliEnv);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /NAME_UNKNOWN/);
    const badOption = await berth(['gc', '--everything'], cliEnv);
    assert.equal(badOption.code, 2);
    const badGrace = await berth(['gc'], { ...cliEnv, BERTH_GC_GRACE: 'soon' });
    assert.equal(badGrace.code, 1);
    assert.match(badGrace.stderr, /BERTH_GC_GRACE: "soon" is not a duration/);
  });
});

describe('the background collector (BERTH_GC_INTERVAL)', () => {
  let reg: RegistryInstance;
  before(async () => {
    reg = await startRegistry({
      env: { BERTH_GC_GRACE: '3s', BERTH_GC_INTERVAL: '1s', BERTH_HISTORY_RETENTION: '0s', BERTH_HISTORY_KEEP: '0', LOG_LEVEL: 'info' },
    });
  });
  after(() => reg?.destroy());

  it('collects an untagged manifest and its blobs without being asked, and logs what it removed', async () => {
    const agent = supertest.agent(reg.url);
    const image = await pushImage(agent, 'bg/app', 'tmp');
    await agent.delete('/v2/bg/app/manifests/tmp').expect(202);
    const deadline = Date.now() + 30_000;
    while ((await agent.get(`/v2/bg/app/manifests/${image.digest}`).set('Accept', OCI_MANIFEST)).status !== 404) {
      assert.ok(Date.now() < deadline, 'collected within 20 s');
      await sleep(200);
    }
    while ((await agent.head(`/v2/bg/app/blobs/${sha256(image.config)}`)).status !== 404) {
      assert.ok(Date.now() < deadline, 'blobs collected within 20 s');
      await sleep(200);
    }
    await sleep(300);
    const line = reg
      .output()
      .split('\n')
      .map((l) => {
        try {
          return JSON.parse(l) as { msg?: string; gc?: { manifestsDeleted: number; blobsDeleted: number; blobBytes: number } };
        } catch {
          return {};
        }
      })
      .find((l) => l.msg === 'garbage collection finished' && (l.gc?.blobsDeleted ?? 0) > 0);
    assert.ok(line, `a log line reports the run:\n${reg.output().slice(-3000)}`);
    assert.equal(line.gc!.blobsDeleted, 3);
    assert.ok(line.gc!.blobBytes > 1024);
  });
});
