// deploy/: the compose file is valid against the Compose Specification's JSON schema (the one the
// dclint package ships, checked with its linter: no docker or compose binary needed), and keeps
// the invariants a scaled-out Berth relies on: two identical replicas sharing one PostgreSQL and
// one S3 bucket, behind an nginx that streams bodies of any size.
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DCLinter } from 'dclint';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DEPLOY = path.join(ROOT, 'deploy');
const COMPOSE_PATH = path.join(DEPLOY, 'compose.yaml');

type Env = Record<string, string>;
interface Service {
  image?: string;
  build?: { context?: string; dockerfile?: string } | string;
  command?: string[] | string;
  environment?: Env | string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test?: string[] | string };
  ports?: string[];
  volumes?: string[];
  restart?: string;
  pull_policy?: string;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

function loadCompose(): Compose {
  // merge: true resolves the `<<: *berth` keys as compose does.
  return parse(readFileSync(COMPOSE_PATH, 'utf8'), { merge: true }) as Compose;
}

function envOf(service: Service): Env {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
  return Object.fromEntries(env.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

/** dclint's rules that matter for correctness or safety; its style rules (key order…) are off. */
const LINT_RULES: Record<string, 0 | 2 | [2, Record<string, unknown>]> = {
  'no-duplicate-container-names': 2,
  'no-duplicate-exported-ports': 2,
  'no-unbound-port-interfaces': 2,
  'no-version-field': 2,
  'no-quotes-in-volumes': 2,
  'require-quotes-in-ports': [2, { quoteType: 'double' }],
  'service-image-require-explicit-tag': 2,
  'require-project-name-field': 2,
  // Off: build + image together is deliberate (one `berth:local` image for all three services).
  'no-build-and-image': 0,
  'service-container-name-regex': 0,
  'service-dependencies-alphabetical-order': 0,
  'service-keys-order': 0,
  'service-ports-alphabetical-order': 0,
  'services-alphabetical-order': 0,
  'top-level-properties-order': 0,
};

// dclint's bundled .d.ts files use extensionless relative imports, which NodeNext resolution does
// not follow, so the result's shape is written down here.
interface LintMessage {
  rule: string;
  type: 'error' | 'warning';
  line: number;
  message: string;
}

function lint(file: string): { messages: LintMessage[] } {
  const linter = new DCLinter({ rules: LINT_RULES, quiet: true, debug: false, exclude: [] });
  const [result] = linter.lintFiles([file], false) as { messages: LintMessage[] }[];
  assert.ok(result, `dclint returned no result for ${file}`);
  return result;
}

describe('deploy/compose.yaml: Compose Specification schema (dclint)', () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'berth-deploy-test-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('validates against the compose-spec JSON schema with no lint errors', () => {
    const result = lint(COMPOSE_PATH);
    const errors = result.messages.filter((m) => m.type === 'error');
    assert.deepEqual(
      errors.map((m) => `${m.rule} (line ${m.line}): ${m.message}`),
      [],
      'deploy/compose.yaml is not a valid compose file',
    );
  });

  it('the validator does reject an invalid file (a misspelt depends_on condition)', () => {
    const broken = readFileSync(COMPOSE_PATH, 'utf8').replace('service_completed_successfully', 'service_finished');
    assert.notEqual(broken, readFileSync(COMPOSE_PATH, 'utf8'));
    const file = path.join(scratch, 'compose.yaml');
    writeFileSync(file, broken);
    const rules = lint(file).messages.map((m) => m.rule);
    assert.ok(rules.includes('invalid-schema'), `expected invalid-schema, got ${JSON.stringify(rules)}`);
  });

  it('the validator rejects an unknown service key', () => {
    const file = path.join(scratch, 'unknown-key.yaml');
    writeFileSync(file, 'name: x\nservices:\n  a:\n    image: nginx:1.27\n    restart_policy: always\n');
    const rules = lint(file).messages.map((m) => m.rule);
    assert.ok(rules.includes('invalid-schema'), `expected invalid-schema, got ${JSON.stringify(rules)}`);
  });
});

describe('deploy/compose.yaml: Berth invariants', () => {
  const compose = loadCompose();
  const services = compose.services;
  const berthNames = ['berth-1', 'berth-2'];

  it('has postgres, minio, berth-migrate, two berth replicas and nginx', () => {
    for (const name of ['postgres', 'minio', 'berth-migrate', ...berthNames, 'nginx']) {
      assert.ok(services[name], `service ${name} is missing`);
    }
  });

  it('one image, built once from deploy/Dockerfile at the repo root by berth-migrate, run by both replicas', () => {
    const [a, b] = berthNames.map((n) => services[n]!);
    const migrate = services['berth-migrate']!;
    assert.ok(a!.image, 'berth-1 has an image name');
    assert.equal(b!.image, a!.image);
    assert.equal(migrate.image, a!.image);
    assert.deepEqual(migrate.build, { context: '..', dockerfile: 'deploy/Dockerfile' });
    // Only one service builds the tag: parallel builds of one tag can fail ("already exists").
    for (const r of [a!, b!]) {
      assert.equal(r.build, undefined, 'the replicas do not build');
      assert.equal(r.pull_policy, 'never', 'the replicas never pull the locally built image');
    }
  });

  it('the replicas share DATABASE_URL, credentials and every BERTH_S3_* setting, with BERTH_STORAGE=s3', () => {
    const [a, b] = berthNames.map((n) => envOf(services[n]!));
    assert.deepEqual(b, a, 'berth-1 and berth-2 must have identical environments');
    assert.equal(a!.BERTH_STORAGE, 's3');
    assert.match(a!.DATABASE_URL ?? '', /^postgres(ql)?:\/\/[^@]+@postgres:5432\//);
    assert.equal(a!.BERTH_S3_ENDPOINT, 'http://minio:9000');
    assert.equal(a!.BERTH_S3_FORCE_PATH_STYLE, 'true');
    assert.equal(a!.BERTH_S3_CREATE_BUCKET, 'true');
    for (const key of ['BERTH_S3_BUCKET', 'BERTH_S3_REGION', 'BERTH_S3_PREFIX', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      assert.ok(key in a!, `${key} is set`);
    }
    const migrate = envOf(services['berth-migrate']!);
    assert.equal(migrate.DATABASE_URL, a!.DATABASE_URL, 'berth-migrate migrates the database the replicas use');
  });

  it("the replicas' environment is a configuration Berth accepts", () => {
    const env = envOf(services['berth-1']!);
    const config = loadConfig(env);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.port, 5000);
    assert.equal(config.databaseUrl, env.DATABASE_URL);
    assert.deepEqual(config.storage, {
      driver: 's3',
      bucket: env.BERTH_S3_BUCKET,
      endpoint: 'http://minio:9000',
      region: env.BERTH_S3_REGION,
      forcePathStyle: true,
      prefix: env.BERTH_S3_PREFIX,
      redirect: false,
      createBucket: true,
    });
  });

  it('credentials match between the services that define and use them', () => {
    const berth = envOf(services['berth-1']!);
    const pg = envOf(services.postgres!);
    const minio = envOf(services.minio!);
    const url = new URL(berth.DATABASE_URL!);
    assert.equal(decodeURIComponent(url.username), pg.POSTGRES_USER);
    assert.equal(decodeURIComponent(url.password), pg.POSTGRES_PASSWORD);
    assert.equal(url.pathname.slice(1), pg.POSTGRES_DB);
    assert.equal(berth.AWS_ACCESS_KEY_ID, minio.MINIO_ROOT_USER);
    assert.equal(berth.AWS_SECRET_ACCESS_KEY, minio.MINIO_ROOT_PASSWORD);
  });

  it('start-up order: migrate after a healthy postgres; replicas after a successful migrate and a healthy minio', () => {
    const deps = (n: string) => services[n]!.depends_on as Record<string, { condition: string }>;
    assert.equal(deps('berth-migrate').postgres?.condition, 'service_healthy');
    assert.deepEqual(services['berth-migrate']!.command, ['node', 'dist/cli.js', 'migrate']);
    assert.equal(services['berth-migrate']!.restart, 'no');
    for (const n of berthNames) {
      assert.equal(deps(n)['berth-migrate']?.condition, 'service_completed_successfully');
      assert.equal(deps(n).minio?.condition, 'service_healthy');
    }
  });

  it('postgres and minio have healthchecks and named volumes', () => {
    assert.match(String(services.postgres!.healthcheck?.test), /pg_isready/);
    assert.ok(services.minio!.healthcheck?.test, 'minio healthcheck');
    for (const n of ['postgres', 'minio']) {
      const vol = services[n]!.volumes?.[0]?.split(':')[0];
      assert.ok(vol && compose.volumes && vol in compose.volumes, `${n} keeps its data in a named volume`);
    }
  });

  it('only nginx publishes a port, on 127.0.0.1:5000', () => {
    for (const [name, s] of Object.entries(services)) {
      if (name !== 'nginx') assert.equal(s.ports, undefined, `${name} publishes no port`);
    }
    assert.deepEqual(services.nginx!.ports, ['127.0.0.1:5000:80']);
    assert.ok(services.nginx!.volumes?.some((v) => v.startsWith('./nginx.conf:/etc/nginx/nginx.conf')));
  });
});

describe('deploy/nginx.conf', () => {
  const conf = readFileSync(path.join(DEPLOY, 'nginx.conf'), 'utf8').replace(/#.*$/gm, '');

  it('balances over both replicas', () => {
    assert.match(conf, /upstream\s+berth\s*\{[^}]*server\s+berth-1:5000[^}]*server\s+berth-2:5000/);
    assert.match(conf, /proxy_pass\s+http:\/\/berth;/);
  });

  it('streams bodies of any size and keeps the client host', () => {
    for (const directive of [
      /client_max_body_size\s+0;/,
      /proxy_request_buffering\s+off;/,
      /proxy_buffering\s+off;/,
      /proxy_set_header\s+Host\s+\$http_host;/,
      /proxy_set_header\s+X-Forwarded-For\s+\$proxy_add_x_forwarded_for;/,
      /proxy_set_header\s+X-Forwarded-Proto\s+\$scheme;/,
      /proxy_read_timeout\s+\d+s;/,
    ]) {
      assert.match(conf, directive);
    }
  });
});

describe('deploy/Dockerfile', () => {
  const dockerfile = readFileSync(path.join(DEPLOY, 'Dockerfile'), 'utf8');

  it('builds on a swappable Node 24 base, runs as non-root, listens on 0.0.0.0:5000 with a healthcheck', () => {
    assert.match(dockerfile, /^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
    assert.equal(dockerfile.match(/^FROM \$\{NODE_IMAGE\}/gm)?.length, 2, 'two stages on NODE_IMAGE');
    assert.match(dockerfile, /npm prune --omit=dev/);
    assert.match(dockerfile, /^COPY migrations /m);
    assert.match(dockerfile, /^USER (?!root\b|0\b)\S+$/m);
    assert.match(dockerfile, /BERTH_ADDR=0\.0\.0\.0:5000/);
    assert.match(dockerfile, /^EXPOSE 5000$/m);
    assert.match(dockerfile, /^HEALTHCHECK [\s\S]*\/healthz/m);
    assert.match(dockerfile, /^CMD \["node", "dist\/cli\.js", "serve"\]$/m);
    // The runtime stage runs no shell step, so a base without a shell (distroless) works too.
    const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'));
    assert.doesNotMatch(runtime, /^RUN /m);
  });

  it('the deploy README and compose.yaml say what the image does: its health path, its Node, authentication', () => {
    const readme = readFileSync(path.join(DEPLOY, 'README.md'), 'utf8');
    const healthPath = /fetch\('http:\/\/127\.0\.0\.1:' \+ port \+ '(\/[a-z]+)'\)/.exec(dockerfile)?.[1];
    assert.equal(healthPath, '/healthz');
    const claims = [...readme.matchAll(/`GET (\/\S*)` answers \(the image's `HEALTHCHECK`\)/g)].map((m) => m[1]);
    assert.ok(claims.length > 0, 'the README says when a container is healthy');
    for (const claim of claims) assert.equal(claim, healthPath);
    assert.doesNotMatch(readme, /Node(\.js)? ?≥ ?(1\d|2[0-3])\b/, 'the image needs Node 24');
    for (const text of [readme, readFileSync(COMPOSE_PATH, 'utf8')]) assert.doesNotMatch(text, /no authentication yet|wait for authentication/i);
  });

  it('the repo-root .dockerignore keeps node_modules, dist and .git out of the build context', () => {
    const ignored = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', 'dist', '.git']) assert.ok(ignored.includes(entry), `.dockerignore lists ${entry}`);
  });
});

// deploy/kubernetes: every object validates against the Kubernetes OpenAPI schemas shipped in the
// kubernetes-models package (offline), and keeps what running Berth in a cluster relies on.
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  resources?: string[];
}

const K8S = path.join(DEPLOY, 'kubernetes');

function loadK8s(): Map<string, K8sObject> {
  const objects = new Map<string, K8sObject>();
  for (const file of readdirSync(K8S).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(path.join(K8S, file), 'utf8'))) {
      const o = doc.toJS() as K8sObject;
      objects.set(`${o.kind}/${o.metadata?.name ?? file}`, o);
    }
  }
  return objects;
}

/** Validates with the model class of the object's apiVersion and kind; returns the error message or ''. */
async function validateK8s(o: K8sObject): Promise<string> {
  const module = (await import(`kubernetes-models/${o.apiVersion}`)) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = module[o.kind];
  if (!Model) return `no schema for ${o.apiVersion} ${o.kind}`;
  try {
    new Model(o).validate();
    return '';
  } catch (err) {
    return (err as Error).message;
  }
}

describe('deploy/kubernetes: Kubernetes schemas (kubernetes-models)', () => {
  const objects = loadK8s();
  const apiObjects = [...objects.values()].filter((o) => o.kind !== 'Kustomization');

  it('has the Deployment, Service, Ingress, Secret, ConfigMap, migration Job and PodDisruptionBudget', () => {
    for (const key of ['Deployment/berth', 'Service/berth', 'Ingress/berth', 'Secret/berth', 'ConfigMap/berth', 'Job/berth-migrate', 'PodDisruptionBudget/berth']) {
      assert.ok(objects.has(key), `${key} is missing`);
    }
  });

  it('every object validates against its schema', async () => {
    const problems: string[] = [];
    for (const o of apiObjects) {
      const problem = await validateK8s(o);
      if (problem) problems.push(`${o.kind}/${o.metadata.name}: ${problem}`);
    }
    assert.deepEqual(problems, []);
  });

  it('the validator does reject a wrong type and a missing required field', async () => {
    const deployment = structuredClone(objects.get('Deployment/berth')!);
    deployment.spec.replicas = 'two';
    assert.match(await validateK8s(deployment), /replicas must be integer/);
    const service = structuredClone(objects.get('Service/berth')!);
    delete service.spec.ports[0].port;
    assert.match(await validateK8s(service), /port/);
  });

  it('kustomization.yaml lists files that exist (all but the per-release Job)', () => {
    const kustomization = objects.get('Kustomization/kustomization.yaml') ?? [...objects.values()].find((o) => o.kind === 'Kustomization')!;
    for (const file of kustomization.resources ?? []) assert.ok(existsSync(path.join(K8S, file)), file);
    assert.ok(!(kustomization.resources ?? []).includes('migrate-job.yaml'));
  });

  it('kustomize applies every listed file as it ships: no listed file asks to be deleted first', () => {
    const kustomization = [...objects.values()].find((o) => o.kind === 'Kustomization')!;
    assert.ok(kustomization.resources?.includes('secret.yaml'), 'the Secret is applied with the rest');
    for (const file of kustomization.resources ?? []) {
      assert.doesNotMatch(readFileSync(path.join(K8S, file), 'utf8'), /delete this file/i, `${file} is listed in kustomization.yaml`);
    }
  });

  it('ships no token signing key that would stop Berth at start-up', () => {
    for (const o of apiObjects.filter((x) => x.kind === 'Secret' || x.kind === 'ConfigMap')) {
      const key = o.stringData?.BERTH_TOKEN_KEY ?? o.data?.BERTH_TOKEN_KEY;
      if (key !== undefined) assert.doesNotThrow(() => createPrivateKey(key), `${o.kind}/${o.metadata.name}: BERTH_TOKEN_KEY is not a private key`);
    }
    assert.throws(() => createPrivateKey('-----BEGIN PRIVATE KEY-----\nchange-me\n-----END PRIVATE KEY-----\n'), 'the check does refuse a placeholder');
  });

  it('uses no lifecycle hook that needs Kubernetes 1.30 (the sleep action); preStop pauses with node', () => {
    for (const o of apiObjects.filter((x) => x.spec?.template?.spec?.containers)) {
      for (const c of o.spec.template.spec.containers) {
        for (const [hook, handler] of Object.entries((c.lifecycle ?? {}) as Record<string, Record<string, unknown>>)) {
          assert.equal(handler.sleep, undefined, `${o.kind}/${o.metadata.name} ${c.name} ${hook}`);
        }
      }
    }
    const c = objects.get('Deployment/berth')!.spec.template.spec.containers[0];
    assert.equal(c.lifecycle.preStop.exec.command[0], 'node', 'the image surely has node; a shell or sleep it may not');
  });

  it('every reference resolves: envFrom ConfigMaps and Secrets, Service target ports, the Ingress backend port', () => {
    const workloads = apiObjects.filter((x) => x.spec?.template?.spec?.containers);
    for (const o of workloads) {
      for (const c of o.spec.template.spec.containers) {
        for (const e of c.envFrom ?? []) {
          const ref = e.configMapRef ? `ConfigMap/${e.configMapRef.name}` : `Secret/${e.secretRef.name}`;
          assert.ok(objects.has(ref), `${o.kind}/${o.metadata.name} refers to ${ref}`);
        }
      }
    }
    const containerPorts = new Map<string, number>(objects.get('Deployment/berth')!.spec.template.spec.containers[0].ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    const service = objects.get('Service/berth')!;
    for (const p of service.spec.ports) {
      assert.ok(typeof p.targetPort === 'number' ? [...containerPorts.values()].includes(p.targetPort) : containerPorts.has(p.targetPort), `Service port ${p.name} → ${p.targetPort}`);
    }
    for (const rule of objects.get('Ingress/berth')!.spec.rules) {
      for (const route of rule.http.paths) {
        const backend = route.backend.service;
        assert.ok(objects.has(`Service/${backend.name}`));
        assert.ok(service.spec.ports.some((p: { name: string; port: number }) => p.name === backend.port.name || p.port === backend.port.number), `Ingress → ${backend.name}:${JSON.stringify(backend.port)}`);
      }
    }
  });

  it('Deployment: ≥ 2 replicas, probes on /readyz and /healthz, resource requests, grace period beyond the shutdown timeout', () => {
    const d = objects.get('Deployment/berth')!;
    assert.ok(d.spec.replicas >= 2);
    const c = d.spec.template.spec.containers[0];
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory);
    assert.deepEqual(c.envFrom.map((e: { configMapRef?: { name: string }; secretRef?: { name: string } }) => e.configMapRef?.name ?? e.secretRef?.name), ['berth', 'berth']);
    assert.equal(d.spec.template.spec.securityContext.runAsNonRoot, true);
    const config = objects.get('ConfigMap/berth')!.data!;
    const timeout = loadConfig({ ...config, ...secretData() }).shutdownTimeoutMs / 1000;
    assert.ok(d.spec.template.spec.terminationGracePeriodSeconds > timeout, 'Kubernetes must not SIGKILL before Berth gives up on requests in flight');
    const ports = Object.fromEntries(c.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    assert.equal(`0.0.0.0:${ports.http}`, config.BERTH_ADDR);
    assert.equal(`0.0.0.0:${ports.metrics}`, config.BERTH_METRICS_ADDR);
  });

  // The Secret ships no signing key (Berth generates one): as applied, the two are a configuration Berth accepts.
  const secretData = () => objects.get('Secret/berth')!.stringData as Record<string, string>;

  it('the ConfigMap and Secret together, as shipped, are a configuration Berth accepts, behind a trusted proxy', () => {
    assert.equal(secretData().BERTH_TOKEN_KEY, undefined, 'the Secret must not ship a signing key');
    const config = loadConfig({ ...objects.get('ConfigMap/berth')!.data, ...secretData() });
    assert.equal(config.trustProxy, true);
    assert.equal(config.storage.driver, 's3');
    assert.ok(config.databaseUrl);
  });

  it('Service and PodDisruptionBudget select the Deployment\'s pods; the PDB keeps one available', () => {
    const labels = objects.get('Deployment/berth')!.spec.template.metadata.labels as Record<string, string>;
    const selects = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
    assert.ok(selects(objects.get('Service/berth')!.spec.selector));
    const pdb = objects.get('PodDisruptionBudget/berth')!;
    assert.ok(selects(pdb.spec.selector.matchLabels));
    assert.ok(pdb.spec.minAvailable >= 1 && pdb.spec.minAvailable < objects.get('Deployment/berth')!.spec.replicas);
  });

  it('Ingress: TLS, unlimited streamed bodies and long timeouts for large layers, to the Service', () => {
    const ing = objects.get('Ingress/berth')!;
    assert.ok(ing.spec.tls?.[0]?.secretName);
    assert.deepEqual(ing.spec.tls[0].hosts, [ing.spec.rules[0].host]);
    const a = ing.metadata.annotations!;
    assert.equal(a['nginx.ingress.kubernetes.io/proxy-body-size'], '0');
    assert.equal(a['nginx.ingress.kubernetes.io/proxy-request-buffering'], 'off');
    assert.ok(Number(a['nginx.ingress.kubernetes.io/proxy-read-timeout']) >= 600);
    assert.equal(ing.spec.rules[0].http.paths[0].backend.service.name, 'berth');
  });

  it('the migration Job runs `berth migrate` with the same image and settings as the Deployment', () => {
    const job = objects.get('Job/berth-migrate')!.spec.template.spec;
    const app = objects.get('Deployment/berth')!.spec.template.spec.containers[0];
    assert.deepEqual(job.containers[0].command, ['node', 'dist/cli.js', 'migrate']);
    assert.equal(job.containers[0].image, app.image);
    assert.deepEqual(job.containers[0].envFrom, app.envFrom);
    assert.equal(job.restartPolicy, 'OnFailure');
  });
});
