// The web UI in a real browser: Debian's chromium driven by playwright-core, against a Berth process
// with BERTH_AUTH=token. Images are pushed with the docker CLI (team/app:prod, two versions) and with
// skopeo (a two-platform index), then a person's paths are walked: sign in, browse and search, open
// a tag's history, roll back with a reason (a registry pull of the tag then gives the old digest),
// the 412 path when the tag moved meanwhile, undo, the diff and image pages, creating a robot, a
// pull-only user who is offered no rollback and whose forged request is refused, a cross-site POST
// from another origin, and signing out. axe-core checks every page (no serious or critical
// violations); every page is saved as a screenshot, light and dark, under test/ui/screenshots/run/.
//
// Run: npm test -- test/ui/ui.test.ts (needs dockerd, docker, skopeo, chromium and DATABASE_URL).
import assert from 'node:assert/strict';
import { createServer, get as httpGet, type Server } from 'node:http';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT, freePort, startRegistry, type RegistryInstance } from '../helpers/berth-process.js';
import { startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { buildDockerImage, randomFiles, randomId, sha256, writeOciLayout } from '../helpers/images.js';
import { assertTools, describeRun, findTool, run, runOk, suiteSkip } from '../helpers/system-tools.js';

const TOOLS = ['dockerd', 'docker', 'skopeo', 'chromium'];
const ADMIN = ['admin', 'admin-password-123'] as const;
const ALICE = ['alice', 'alice-password-123'] as const;
/** Every run's screenshots (not committed); README.md shows copies of a few from test/ui/screenshots/. */
const SHOTS = join(REPO_ROOT, 'test', 'ui', 'screenshots', 'run');
const MANIFEST_ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json';
const axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('web UI in chromium', { skip: suiteSkip(TOOLS) }, () => {
  let dockerd: Dockerd;
  let reg: RegistryInstance;
  let browser: Browser;
  let work: string;
  let digestA: string;
  let digestB: string;
  let receiver: Server;
  let receiverUrl: string;
  const received: string[] = [];
  const run3 = randomId(3);

  /** A bearer token from Berth's token endpoint, as docker gets one. */
  async function token(scope: string, who: readonly [string, string] = ADMIN): Promise<string> {
    const challenge = await fetch(`${reg.url}/v2/`);
    const header = challenge.headers.get('www-authenticate') ?? '';
    const realm = /realm="([^"]+)"/.exec(header)![1]!;
    const service = /service="([^"]+)"/.exec(header)![1]!;
    const res = await fetch(`${realm}?service=${encodeURIComponent(service)}&scope=${encodeURIComponent(scope)}`, { headers: { Authorization: basic(...who) } });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { token: string }).token;
  }

  /** What a registry pull of the tag gets: the manifest digest. */
  async function pulledDigest(repo: string, tag: string): Promise<string> {
    const res = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
      headers: { Authorization: `Bearer ${await token(`repository:${repo}:pull`)}`, Accept: MANIFEST_ACCEPT },
    });
    assert.equal(res.status, 200);
    return sha256(Buffer.from(await res.arrayBuffer()));
  }

  async function admin(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${reg.url}${path}`, {
      method,
      headers: { Authorization: basic(...ADMIN), 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async function newPage(scheme: 'light' | 'dark' = 'light'): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1200, height: 760 }, colorScheme: scheme, baseURL: reg.url });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    return { context, page };
  }

  /** Signs the page's context in through the form. */
  async function signIn(page: Page, who: readonly [string, string]): Promise<void> {
    await page.goto('/ui/login');
    await page.getByLabel('Username').fill(who[0]);
    await page.getByLabel('Password').fill(who[1]);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText(`Signed in as ${who[0]}`).waitFor();
  }

  /** A rollback of team/app:prod to `digest` sent by the page's own script, CSRF token and all, past its buttons. */
  async function rollbackFromPage(page: Page, digest: string): Promise<{ status: number; body: string }> {
    return page.evaluate(async (target) => {
      const csrf = /berth_csrf=([^;]+)/.exec(document.cookie)?.[1] ?? '';
      const res = await fetch('/api/v1/repositories/team/app/tags/prod/rollback', {
        method: 'POST',
        headers: { 'X-Berth-UI': '1', 'X-Berth-CSRF': csrf, 'Content-Type': 'application/json' },
        body: JSON.stringify({ digest: target }),
      });
      return { status: res.status, body: await res.text() };
    }, digest);
  }

  /** axe-core on the page as it is: serious and critical violations fail the test. */
  async function checkAccessibility(page: Page, what: string): Promise<void> {
    if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
    const violations = await page.evaluate(async () => {
      const result = await (window as unknown as { axe: { run: (o: unknown) => Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: unknown }[] }[] }> } }).axe.run({
        resultTypes: ['violations'],
      });
      return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)) }));
    });
    const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(bad, [], `${what}: accessibility violations`);
  }

  /** Screenshots of the page at `url` in light and dark, and axe-core in both. */
  async function capture(url: string, name: string, ready: string, who: readonly [string, string] | null = ADMIN): Promise<void> {
    for (const scheme of ['light', 'dark'] as const) {
      const { context, page } = await newPage(scheme);
      try {
        if (who) await signIn(page, who);
        await page.goto(url);
        await page.getByText(ready, { exact: false }).first().waitFor();
        await page.waitForFunction(() => !document.querySelector('.loading .spinner'));
        await checkAccessibility(page, `${name} (${scheme})`);
        await page.screenshot({ path: join(SHOTS, `${name}-${scheme}.png`) });
      } finally {
        await context.close();
      }
    }
  }

  before(async () => {
    assertTools(TOOLS);
    await mkdir(SHOTS, { recursive: true });
    work = await mkdtemp(join(tmpdir(), 'berth-ui-test-'));
    await runOk(process.execPath, [join(REPO_ROOT, 'src', 'ui', 'build.mjs')], { timeoutMs: 120_000 });
    // A webhook receiver, so the administration page has deliveries to show.
    const receiverPort = await freePort();
    receiverUrl = `http://127.0.0.1:${receiverPort}/hook`;
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        received.push(body);
        res.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(receiverPort, '127.0.0.1', resolve));
    [dockerd, reg, browser] = await Promise.all([
      startDockerd(),
      startRegistry({
        env: {
          BERTH_AUTH: 'token',
          BERTH_ADMIN_USER: ADMIN[0],
          BERTH_ADMIN_PASSWORD: ADMIN[1],
          BERTH_IMMUTABLE_TAGS: '[{"repository":"team/multi","tags":["v*"]}]',
          BERTH_WEBHOOKS: JSON.stringify([{ url: receiverUrl, events: ['push', 'rollback'] }]),
        },
      }),
      chromium.launch({ executablePath: findTool('chromium')!, args: ['--no-sandbox'] }),
    ]);

    // Two versions of team/app pushed as prod with the docker CLI.
    const login = await dockerd.docker(['login', reg.host, '-u', ADMIN[0], '--password-stdin'], { input: ADMIN[1], timeoutMs: 60_000 });
    assert.equal(login.code, 0, describeRun(login));
    // Both versions share a base layer, so their diff shows one layer kept and one replaced.
    const base = await buildDockerImage(dockerd, { tag: `local/ui-${run3}:base`, layers: [randomFiles('srv', 2, 30_000)] });
    const push = async (version: string) => {
      const img = await buildDockerImage(dockerd, {
        tag: `local/ui-${run3}:${version}`,
        from: base,
        layers: [[{ path: 'app/version.txt', content: Buffer.from(`version ${version} ${randomId()}\n`) }]],
      });
      const ref = `${reg.host}/team/app:prod`;
      await dockerd.dockerOk(['tag', img.tag, ref]);
      const r = await dockerd.docker(['push', ref], { timeoutMs: 300_000 });
      assert.equal(r.code, 0, describeRun(r));
      return /: digest: (sha256:[0-9a-f]{64})/.exec(r.stdout)![1]!;
    };
    digestA = await push('a');
    digestB = await push('b');

    // A two-platform index with skopeo, twice (v1 then v2 as `stable`), for the image and diff pages.
    for (const tag of ['v1', 'v2']) {
      const layout = await writeOciLayout(join(work, tag), { tag });
      const r = await run(
        'skopeo',
        ['copy', '--all', '--dest-tls-verify=false', '--dest-creds', ADMIN.join(':'), `oci:${layout.dir}:${tag}`, `docker://${reg.host}/team/multi:${tag}`],
        { timeoutMs: 120_000 },
      );
      assert.equal(r.code, 0, describeRun(r));
    }

    // A signature-like referrer of image A (prod's image again after the rollback tests).
    const pushToken = await token('repository:team/app:pull,push');
    const empty = Buffer.from('{}');
    const emptyDigest = sha256(empty);
    const blob = await fetch(`${reg.url}/v2/team/app/blobs/uploads/?digest=${emptyDigest}`, { method: 'POST', headers: { Authorization: `Bearer ${pushToken}` }, body: empty });
    assert.equal(blob.status, 201);
    const aManifest = await fetch(`${reg.url}/v2/team/app/manifests/${digestA}`, { headers: { Authorization: `Bearer ${pushToken}`, Accept: MANIFEST_ACCEPT } });
    const referrer = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyDigest, size: 2 },
        layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyDigest, size: 2 }],
        subject: { mediaType: aManifest.headers.get('content-type'), digest: digestA, size: Number(aManifest.headers.get('content-length')) },
      }),
    );
    const put = await fetch(`${reg.url}/v2/team/app/manifests/${sha256(referrer)}`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${pushToken}`, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      body: referrer,
    });
    assert.equal(put.status, 201, await put.text());

    // A pull-only user, and 10,000 more repositories so the list pages and searches on the server.
    assert.equal((await admin('POST', '/api/v1/users', { name: ALICE[0], password: ALICE[1] })).status, 201);
    assert.equal((await admin('PUT', '/api/v1/permissions', { account: ALICE[0], repository: 'team/*', actions: ['pull'] })).status, 200);
    const db = new pg.Client({ connectionString: reg.databaseUrl });
    await db.connect();
    await db.query(`INSERT INTO repositories (name) SELECT 'bulk/service-' || lpad(i::text, 5, '0') FROM generate_series(1, 10000) i`);
    await db.end();
  });

  after(async () => {
    receiver?.close();
    await browser?.close();
    await Promise.all([dockerd?.stop(), reg?.destroy()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('serves the UI at / with a strict CSP, long-cached hashed assets and a first load under 150 KiB compressed', async () => {
    const root = await fetch(`${reg.url}/`, { redirect: 'manual' });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/ui/');
    const index = await fetch(`${reg.url}/ui/`);
    assert.equal(index.status, 200);
    const csp = index.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const html = await index.text();
    assert.doesNotMatch(html, /<script>|<style>| style=|https?:\/\//, 'index.html must have no inline code and nothing from another origin');
    const assets = [...html.matchAll(/(?:src|href)="(\/ui\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
    assert.equal(assets.length, 2, html);
    let compressed = 0;
    for (const path of assets) {
      const res = await new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; bytes: number }>((resolve, reject) => {
        httpGet(`${reg.url}${path}`, { headers: { 'Accept-Encoding': 'gzip' } }, (r) => {
          let bytes = 0;
          r.on('data', (c: Buffer) => (bytes += c.length));
          r.on('end', () => resolve({ status: r.statusCode!, headers: r.headers, bytes }));
        }).on('error', reject);
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-encoding'], 'gzip');
      assert.match(String(res.headers['cache-control']), /max-age=31536000, immutable/);
      compressed += res.bytes;
    }
    console.log(`# UI first load: ${compressed} bytes of gzip JS+CSS (budget ${150 * 1024})`);
    assert.ok(compressed <= 150 * 1024, `first load is ${compressed} bytes compressed`);
    assert.equal((await fetch(`${reg.url}/ui/assets/nothing-here.js`)).status, 404);
  });

  it('shows an anonymous visitor nothing it may not pull, and offers sign-in', { timeout: 120_000 }, async () => {
    const { context, page } = await newPage();
    try {
      await page.goto('/ui/');
      await page.getByRole('link', { name: 'Sign in' }).waitFor();
      await page.getByText('Push your first image').waitFor();
      assert.equal(await page.getByRole('link', { name: 'team/app' }).count(), 0);
      assert.match(await page.locator('pre').innerText(), new RegExp(`docker push ${reg.host.replace(/\./g, '\\.')}/team/app:1\\.0`));
      await checkAccessibility(page, 'repositories (anonymous)');
    } finally {
      await context.close();
    }
  });

  it('signs in, browses, searches, pages on the server, and back/forward work', { timeout: 180_000 }, async () => {
    const { context, page } = await newPage();
    try {
      await signIn(page, ADMIN);
      const cookies = await context.cookies();
      const session = cookies.find((c) => c.name === 'berth_session')!;
      assert.ok(session, 'a session cookie');
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, 'Strict');
      assert.ok(session.expires > Date.now() / 1000, 'the session cookie expires');

      await page.goto('/ui/');
      const t0 = Date.now();
      await page.getByRole('link', { name: 'bulk/service-00001' }).waitFor();
      console.log(`# repositories page with 10,002 repositories: first rows after ${Date.now() - t0} ms`);
      assert.equal(await page.locator('table.list tbody tr').count(), 50);
      await page.getByRole('link', { name: 'Next page →' }).click();
      await page.getByRole('link', { name: 'bulk/service-00051' }).waitFor();
      assert.match(page.url(), /last=bulk%2Fservice-00050/);

      await page.goto('/ui/');
      await page.getByLabel('Search repositories').fill('TEAM/');
      await page.waitForURL(/q=TEAM/);
      await page.getByRole('link', { name: 'team/multi' }).waitFor();
      await page.waitForFunction(() => document.querySelectorAll('table.list tbody tr').length === 2);
      assert.equal(await page.getByRole('link', { name: /bulk\// }).count(), 0);
      await page.getByLabel('Search repositories').fill('service-09999');
      await page.getByRole('link', { name: 'bulk/service-09999' }).waitFor();
      await page.getByLabel('Search repositories').fill('no such thing');
      await page.getByText('No repository name contains').waitFor();

      await page.goto('/ui/?q=team');
      await page.getByRole('link', { name: 'team/app' }).click();
      await page.waitForURL(/\/ui\/repositories\/team\/app$/);
      const prodRow = page.locator('table.tags tbody tr').filter({ has: page.getByRole('link', { name: 'prod', exact: true }) });
      await prodRow.waitFor();
      assert.match(await prodRow.innerText(), new RegExp(digestB.slice(7, 19)));
      assert.match(await prodRow.innerText(), /by admin/);
      assert.match(await page.locator('.command code').first().innerText(), new RegExp(`docker pull ${reg.host.replace(/\./g, '\\.')}/team/app:prod`));
      await page.goBack();
      await page.waitForURL(/\/ui\/\?q=team$/);
      await page.getByRole('link', { name: 'team/multi' }).waitFor();
      await page.goForward();
      await page.waitForURL(/\/ui\/repositories\/team\/app$/);
      await page.getByText('Tags').first().waitFor();
    } finally {
      await context.close();
    }
  });

  it('rolls back with a reason, a registry pull then gives the old digest, and Undo brings the new one back', { timeout: 180_000 }, async () => {
    const { context, page } = await newPage();
    try {
      await signIn(page, ADMIN);
      await page.goto('/ui/repositories/team/app/-/history/prod');
      await page.locator('ol.timeline li').nth(1).waitFor();
      assert.equal(await page.locator('ol.timeline li').count(), 2);
      await page.locator('ol.timeline li').nth(1).getByRole('button', { name: 'Roll back to this' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByText('What changes').waitFor();
      await dialog.locator('table.layers-diff').first().waitFor();
      await checkAccessibility(page, 'rollback dialog');
      await page.screenshot({ path: join(SHOTS, 'rollback-dialog-light.png') });
      await dialog.getByLabel('Reason (kept in the history)').fill('version b breaks checkout');
      await dialog.getByRole('button', { name: 'Roll back', exact: true }).click();
      // The notice, not the new event's "rolled back" (which may already be listed).
      await page.getByRole('status').getByText('Rolled back').waitFor();
      assert.equal(await pulledDigest('team/app', 'prod'), digestA, 'a pull after the rollback gets image A');
      await page.locator('ol.timeline li').nth(2).waitFor();
      const newest = await page.locator('ol.timeline li').first().innerText();
      assert.match(newest, /rollback/);
      assert.match(newest, /version b breaks checkout/);
      assert.match(newest, /admin/);

      await page.getByRole('button', { name: 'Undo' }).click();
      await page.locator('ol.timeline li').nth(3).waitFor();
      assert.equal(await pulledDigest('team/app', 'prod'), digestB, 'Undo put image B back');
      assert.equal(await page.getByRole('button', { name: 'Undo' }).count(), 0);
    } finally {
      await context.close();
    }
  });

  it('says the tag moved meanwhile (412) and offers a refresh, changing nothing', { timeout: 120_000 }, async () => {
    const { context, page } = await newPage();
    try {
      await signIn(page, ADMIN);
      await page.goto('/ui/repositories/team/app/-/history/prod');
      await page.locator('ol.timeline li').nth(3).waitFor();
      const before = await page.locator('ol.timeline li').count();
      // The oldest event is image A's push.
      await page.locator('ol.timeline li').last().getByRole('button', { name: 'Roll back to this' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByText('What changes').waitFor();
      // Someone else moves prod while the dialog is open.
      const moved = await fetch(`${reg.url}/api/v1/repositories/team/app/tags/prod/rollback`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${await token('repository:team/app:pull,push')}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ digest: digestA, reason: 'someone else' }),
      });
      assert.equal(moved.status, 200, await moved.text());
      await dialog.getByRole('button', { name: 'Roll back', exact: true }).click();
      await dialog.getByText('PRECONDITION_FAILED').waitFor();
      await dialog.getByText('The tag moved while this page was open').waitFor();
      assert.equal(await pulledDigest('team/app', 'prod'), digestA, 'the refused rollback changed nothing');
      await dialog.getByRole('button', { name: 'Refresh history' }).click();
      await page.locator('ol.timeline li').nth(before).waitFor();
      assert.match(await page.locator('ol.timeline li').first().innerText(), /someone else/);
    } finally {
      await context.close();
    }
  });

  it('shows a diff per platform with layers and config side by side, and the image page', { timeout: 180_000 }, async () => {
    const { context, page } = await newPage();
    try {
      await signIn(page, ADMIN);
      await page.goto('/ui/repositories/team/multi/-/diff?from=v1&to=v2');
      await page.getByRole('heading', { name: /linux\/amd64/ }).waitFor();
      await page.getByRole('heading', { name: /linux\/arm64/ }).waitFor();
      const amd = page.locator('section.platform').filter({ has: page.getByRole('heading', { name: /linux\/amd64/ }) });
      assert.match(await amd.locator('.summary').innerText(), /\+2 layers .* −2 layers .* 0 kept/);
      assert.ok((await amd.locator('tr.add').count()) === 2 && (await amd.locator('tr.del').count()) === 2);

      await page.goto('/ui/repositories/team/app/-/diff?from=prod@1&to=prod@2');
      await page.locator('section.platform').first().waitFor();
      assert.match(await page.locator('.summary').first().innerText(), /1 kept/);
      await page.locator('table.diff').getByText('created').waitFor();

      await page.goto('/ui/repositories/team/multi/-/image/v1');
      await page.getByRole('heading', { name: /linux\/arm64/ }).waitFor();
      assert.equal(await page.locator('section.platform').count(), 2);
      assert.equal(await page.locator('section.platform').first().locator('ol.layers li').count(), 2);
      await page.getByText('Manifest JSON').click();
      assert.match(await page.locator('details.raw pre').innerText(), /"mediaType": "application\/vnd\.oci\.image\.index\.v1\+json"/);

      await page.goto(`/ui/repositories/team/app/-/image/${digestA}`);
      await page.getByText('Build history').waitFor();
      assert.match(await page.locator('ol.build').innerText(), /COPY/);
      await page.getByText('Signature').first().waitFor();
    } finally {
      await context.close();
    }
  });

  it('lets an administrator create a robot whose secret is shown once and works, and delete it', { timeout: 120_000 }, async () => {
    const { context, page } = await newPage();
    try {
      await signIn(page, ADMIN);
      await page.getByRole('link', { name: 'Administration' }).click();
      await page.waitForURL(/\/ui\/admin$/);
      const robots = page.locator('section').filter({ has: page.getByRole('heading', { name: 'Robots' }) });
      await robots.getByLabel('Name').fill('ci-deploy');
      await robots.getByLabel('Push to').fill('team/*');
      await robots.getByRole('button', { name: 'Create robot' }).click();
      await robots.getByText('Its secret is shown only this once').waitFor();
      const secret = await robots.locator('code.secret').innerText();
      const robotName = (await robots.locator('.notice strong').innerText()).trim();
      assert.match(robotName, /ci-deploy/);
      await token('repository:team/app:push', [robotName, secret]);
      await page.reload();
      await robots.getByText(robotName).waitFor();
      assert.equal(await robots.locator('code.secret').count(), 0, 'the secret is not shown again');
      page.once('dialog', (d) => void d.accept());
      await robots.getByRole('button', { name: `Delete robot ${robotName}` }).click();
      await robots.getByText(robotName).waitFor({ state: 'detached' });
      const challenge = (await fetch(`${reg.url}/v2/`)).headers.get('www-authenticate') ?? '';
      const realm = /realm="([^"]+)"/.exec(challenge)![1]!;
      assert.equal((await fetch(realm, { headers: { Authorization: basic(robotName, secret) } })).status, 401, 'the deleted robot can no longer log in');
    } finally {
      await context.close();
    }
  });

  it('shows webhook deliveries and runs a garbage collection dry run for an administrator, and only for one', { timeout: 120_000 }, async () => {
    assert.ok(received.length > 0, 'the receiver got the push events');
    const alice = await fetch(`${reg.url}/api/v1/gc`, { headers: { Authorization: basic(...ALICE) } });
    assert.equal(alice.status, 403);
    assert.equal((await fetch(`${reg.url}/api/v1/gc`, { method: 'POST' })).status, 401);
    assert.equal((await admin('POST', '/api/v1/gc', { dryRun: 'yes' })).status, 400);
    const hooks = (await (await admin('GET', '/api/v1/webhooks')).json()) as { webhooks: { url: string; recent: { outcome: string }[] }[] };
    assert.equal(hooks.webhooks[0]!.url, receiverUrl);
    assert.ok(hooks.webhooks[0]!.recent.some((r) => r.outcome === 'delivered'));

    const { context, page } = await newPage();
    try {
      await signIn(page, ADMIN);
      await page.goto('/ui/admin');
      const webhooks = page.locator('section').filter({ has: page.getByRole('heading', { name: 'Webhooks' }) });
      await webhooks.getByText(receiverUrl, { exact: true }).waitFor();
      await webhooks.getByText('delivered').first().waitFor();
      // 10,000 empty bulk/ repositories sort before team/ by name; the chart shows the largest anyway.
      const chart = page.locator('ol.chart li');
      await chart.first().waitFor();
      assert.match(await chart.first().innerText(), /^team\//);
      assert.equal(await chart.filter({ hasText: 'bulk/' }).count(), 0, 'repositories that store nothing are not charted');
      const gc = page.locator('section').filter({ has: page.getByRole('heading', { name: 'Garbage collection' }) });
      await gc.getByRole('button', { name: 'Dry run' }).click();
      await gc.getByText(/Last dry run/).waitFor();
      assert.match(await gc.locator('.gc-report').innerText(), /would remove \d+ blobs/);
      // The whole page, for a person to judge (the README's copy is the first screenful).
      await page.screenshot({ path: join(SHOTS, 'admin-full-light.png'), fullPage: true });
      const last = (await (await admin('GET', '/api/v1/gc')).json()) as { last: { dryRun: boolean } | null };
      assert.equal(last.last?.dryRun, true);
    } finally {
      await context.close();
    }
  });

  it('offers a pull-only user no rollback, and refuses the forged request', { timeout: 120_000 }, async () => {
    const { context, page } = await newPage();
    try {
      await signIn(page, ALICE);
      await page.goto('/ui/');
      await page.getByRole('link', { name: 'team/app' }).waitFor();
      assert.equal(await page.getByRole('link', { name: /bulk\// }).count(), 0, 'alice sees only what she may pull');
      assert.equal(await page.getByRole('link', { name: 'Administration' }).count(), 0);
      await page.goto('/ui/repositories/team/app/-/history/prod');
      await page.locator('ol.timeline li').nth(3).waitFor();
      await page.waitForFunction(() => !document.querySelector('.loading .spinner'));
      assert.equal(await page.getByRole('button', { name: 'Roll back to this' }).count(), 0);
      const forged = await rollbackFromPage(page, digestB);
      assert.equal(forged.status, 403, forged.body);
      assert.match(forged.body, /DENIED/);
      assert.equal(await pulledDigest('team/app', 'prod'), digestA);
      const adminApi = await page.evaluate(async () => (await fetch('/api/v1/users', { headers: { 'X-Berth-UI': '1' } })).status);
      assert.equal(adminApi, 403);
    } finally {
      await context.close();
    }
  });

  it('offers no rollback on a tag an immutable rule covers, and names the rule', { timeout: 180_000 }, async () => {
    // prod has moved many times; an operator then makes it immutable. A replica started with the rule
    // is how that looks (every replica, after a restart with it).
    const ruled = await reg.replica({ BERTH_IMMUTABLE_TAGS: '[{"repository":"team/app","tags":["prod"],"name":"frozen prod"}]' });
    const context = await browser.newContext({ viewport: { width: 1200, height: 760 }, baseURL: ruled.url });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    try {
      await signIn(page, ADMIN);
      await page.goto('/ui/repositories/team/app/-/history/prod');
      await page.locator('ol.timeline li').nth(3).waitFor();
      await page.waitForFunction(() => !document.querySelector('.loading .spinner'));
      await page.getByText('"frozen prod"').waitFor();
      await page.locator('p', { hasText: 'Now:' }).getByText('immutable', { exact: true }).waitFor();
      assert.equal(await page.getByRole('button', { name: 'Roll back to this' }).count(), 0, 'the administrator is offered no rollback the rule forbids');
      await checkAccessibility(page, 'history of an immutable tag');
      await page.screenshot({ path: join(SHOTS, 'history-immutable-light.png') });
      const forced = await rollbackFromPage(page, digestB);
      assert.equal(forced.status, 403, forced.body);
      assert.match(forced.body, /immutable/);
      assert.equal(await pulledDigest('team/app', 'prod'), digestA);
    } finally {
      await context.close();
      await ruled.destroy();
    }
  });

  it('refuses a cross-site POST: from another origin in the browser, and with a forged Origin or no CSRF token', { timeout: 120_000 }, async () => {
    let evil: Server | undefined;
    const { context, page } = await newPage();
    try {
      await signIn(page, ADMIN);
      // A page on another site (localhost is another site than 127.0.0.1) posting a form at Berth.
      const port = await freePort();
      const target = `${reg.url}/api/v1/repositories/team/app/tags/prod/rollback`;
      evil = createServer((_req, res) => {
        res.setHeader('Content-Type', 'text/html');
        res.end(
          `<form id="f" method="POST" action="${target}" enctype="text/plain"><input name='{"digest":"${digestB}","x":"' value='"}'></form>` +
            `<script>document.getElementById('f').submit()</script>`,
        );
      });
      await new Promise<void>((resolve) => evil!.listen(port, '127.0.0.1', resolve));
      const response = page.waitForResponse((r) => r.url() === target);
      await page.goto(`http://localhost:${port}/`);
      assert.equal((await response).status(), 401, 'the browser sent no session with a cross-site form');
      assert.equal(await pulledDigest('team/app', 'prod'), digestA, 'the cross-site POST changed nothing');

      // The same request with the session cookie but from a foreign Origin, or without the CSRF token.
      const cookies = await context.cookies(reg.url);
      const cookieHeader = cookies.map((c) => `${c.name}=${c.value}`).join('; ');
      const csrf = cookies.find((c) => c.name === 'berth_csrf')!.value;
      const attempt = (headers: Record<string, string>) =>
        fetch(target, { method: 'POST', headers: { Cookie: cookieHeader, 'Content-Type': 'application/json', ...headers }, body: JSON.stringify({ digest: digestB }) });
      const foreign = await attempt({ 'X-Berth-UI': '1', 'X-Berth-CSRF': csrf, Origin: 'http://evil.example' });
      assert.equal(foreign.status, 403);
      assert.match(await foreign.text(), /cross-site request refused/);
      const noToken = await attempt({ 'X-Berth-UI': '1', Origin: reg.url });
      assert.equal(noToken.status, 403);
      const cookieOnly = await attempt({ Origin: reg.url });
      assert.equal(cookieOnly.status, 401, 'a cookie without the UI header is no session');
      assert.equal(await pulledDigest('team/app', 'prod'), digestA);
    } finally {
      await context.close();
      evil?.close();
    }
  });

  it('signs out: the session ends and the API no longer knows the browser', { timeout: 60_000 }, async () => {
    const { context, page } = await newPage();
    try {
      await signIn(page, ADMIN);
      const copied = (await context.cookies()).filter((c) => c.name.startsWith('berth_'));
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('link', { name: 'Sign in' }).waitFor();
      const whoAmI = () => page.evaluate(async () => {
        const res = await fetch('/api/v1/session', { headers: { 'X-Berth-UI': '1' } });
        return { status: res.status, body: (await res.json()) as { user: unknown; errors?: { code: string }[] } };
      });
      const session = await whoAmI();
      assert.equal(session.body.user, null);
      assert.equal((await context.cookies()).find((c) => c.name === 'berth_session'), undefined);
      // The cookie copied before signing out is worth nothing now: the session ended on the server.
      await context.addCookies(copied);
      const replayed = await whoAmI();
      assert.equal(replayed.status, 401);
      assert.equal(replayed.body.errors?.[0]?.code, 'UNAUTHORIZED');
      await page.goto('/ui/login');
      await page.getByLabel('Username').fill(ADMIN[0]);
      await page.getByLabel('Password').fill('wrong-password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('UNAUTHORIZED').waitFor();
    } finally {
      await context.close();
    }
  });

  it('sends a browser whose session expired to the sign-in page, and back where it was after signing in', { timeout: 60_000 }, async () => {
    const { context, page } = await newPage();
    try {
      await signIn(page, ALICE);
      await page.goto('/ui/repositories/team/app');
      await page.getByText('docker pull').first().waitFor();
      const secret = (await context.cookies()).find((c) => c.name === 'berth_session')!.value;
      const db = new pg.Client({ connectionString: reg.databaseUrl });
      await db.connect();
      try {
        const ended = await db.query(`UPDATE browser_sessions SET expires_at = now() - interval '1 second' WHERE id = sha256(convert_to($1, 'UTF8'))`, [secret]);
        assert.equal(ended.rowCount, 1);
      } finally {
        await db.end();
      }
      await page.goto('/ui/repositories/team/app/-/history/prod');
      await page.getByText('Your session has ended').waitFor();
      assert.equal(new URL(page.url()).pathname, '/ui/login');
      await page.getByRole('link', { name: 'Sign in' }).waitFor({ state: 'detached' });
      assert.equal((await context.cookies()).find((c) => c.name === 'berth_session'), undefined, 'the ended cookie is cleared');
      await page.getByLabel('Username').fill(ALICE[0]);
      await page.getByLabel('Password').fill(ALICE[1]);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText(`Signed in as ${ALICE[0]}`).waitFor();
      assert.equal(new URL(page.url()).pathname, '/ui/repositories/team/app/-/history/prod');
    } finally {
      await context.close();
    }
  });

  it('is keyboard-usable and readable at 200 % zoom (no sideways scrolling at 600 CSS pixels)', { timeout: 120_000 }, async () => {
    const context = await browser.newContext({ viewport: { width: 600, height: 800 }, deviceScaleFactor: 2, baseURL: reg.url });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    try {
      await signIn(page, ADMIN);
      const pages: [string, string][] = [
        ['/ui/?q=team', 'team/multi'],
        ['/ui/repositories/team/app', 'Compare'],
        ['/ui/repositories/team/app/-/history/prod', 'someone else'],
        ['/ui/repositories/team/multi/-/diff?from=v1&to=v2', 'linux/arm64'],
        ['/ui/repositories/team/multi/-/image/v1', 'linux/arm64'],
        ['/ui/admin', 'Garbage collection'],
      ];
      for (const [url, ready] of pages) {
        await page.goto(url);
        await page.getByText(ready).first().waitFor();
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 1, `${url} scrolls sideways by ${overflow} px at 200 % zoom`);
      }
      await page.goto('/ui/repositories/team/app/-/history/prod');
      await page.locator('ol.timeline li').first().waitFor();
      await page.screenshot({ path: join(SHOTS, 'history-zoom200-light.png') });
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
      await page.getByRole('button', { name: 'Roll back to this' }).first().focus();
      await page.keyboard.press('Enter');
      await page.getByRole('dialog').getByText('What changes').waitFor();
      assert.equal(await page.evaluate(() => document.activeElement?.closest('dialog') !== null), true, 'focus moves into the dialog');
      await page.keyboard.press('Escape');
      await page.getByRole('dialog').waitFor({ state: 'detached' });
    } finally {
      await context.close();
    }
  });

  it('passes axe-core on every page and saves light and dark screenshots', { timeout: 300_000 }, async () => {
    await capture('/ui/?q=team', 'repositories', 'team/multi');
    await capture('/ui/', 'repositories-all', 'bulk/service-00001');
    await capture('/ui/repositories/team/app', 'repository', 'Signature');
    await capture('/ui/repositories/team/app/-/history/prod', 'history', 'someone else');
    await capture('/ui/repositories/team/multi/-/diff?from=v1&to=v2', 'diff', 'linux/arm64');
    await capture('/ui/repositories/team/multi/-/image/v1', 'image', 'linux/arm64');
    await capture('/ui/admin', 'admin', 'Storage by repository');
    await capture('/ui/login', 'login', 'Username', null);
  });
});

describe('web UI with BERTH_AUTH=none', { skip: suiteSkip(['chromium']) }, () => {
  let reg: RegistryInstance;
  let browser: Browser;
  before(async () => {
    assertTools(['chromium']);
    [reg, browser] = await Promise.all([startRegistry(), chromium.launch({ executablePath: findTool('chromium')!, args: ['--no-sandbox'] })]);
  });
  after(async () => {
    await browser?.close();
    await reg?.destroy();
  });

  it('warns that the registry is open to anyone, and explains how to push the first image', { timeout: 60_000 }, async () => {
    const page = await browser.newPage({ baseURL: reg.url });
    try {
      await page.goto('/ui/');
      await page.getByRole('note').getByText('anyone who can reach it can push').waitFor();
      await page.getByText('Push your first image').waitFor();
      assert.equal(await page.getByRole('link', { name: 'Sign in' }).count(), 0, 'nothing to sign in to');
      assert.match(await page.locator('pre').innerText(), new RegExp(`^docker tag my-image ${reg.host.replace(/\./g, '\\.')}/team/app:1\\.0`));
      await mkdir(SHOTS, { recursive: true });
      await page.screenshot({ path: join(SHOTS, 'empty-light.png') });
      await page.getByRole('link', { name: 'Administration' }).click();
      await page.getByRole('heading', { name: 'Garbage collection' }).waitFor();
      assert.equal(await page.getByRole('heading', { name: 'Users' }).count(), 0);
      await page.getByText('No receivers').waitFor();
      await page.getByText('No collection has run yet').waitFor();
      await page.screenshot({ path: join(SHOTS, 'open-registry-light.png') });
    } finally {
      await page.close();
    }
  });
});

describe('BERTH_UI=false', { skip: suiteSkip([]) }, () => {
  let reg: RegistryInstance;
  before(async () => {
    reg = await startRegistry({ env: { BERTH_UI: 'false' } });
  });
  after(async () => {
    await reg?.destroy();
  });

  it('serves no UI and no session endpoint, and the registry still answers', async () => {
    assert.equal((await fetch(`${reg.url}/`, { redirect: 'manual' })).status, 404);
    assert.equal((await fetch(`${reg.url}/ui/`)).status, 404);
    assert.equal((await fetch(`${reg.url}/api/v1/session`)).status, 404);
    assert.equal((await fetch(`${reg.url}/v2/`)).status, 200);
  });
});
