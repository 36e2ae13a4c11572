// openapi.yaml stays true to the code: it is a valid OpenAPI 3.1 document, every route of the /v2
// and /api/v1 route tables (read from src/http/routes/index.ts and src/http/api/index.ts as text, so a
// new route without docs fails here) is documented with its method, nothing is documented that no
// route serves, and the error code enum is exactly the error catalog.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { compileErrors, validate } from '@readme/openapi-parser';
import { parse } from 'yaml';
import { ERROR_CATALOG } from '../../src/errors/catalog.js';

const root = new URL('../../', import.meta.url);
const yamlText = readFileSync(new URL('openapi.yaml', root), 'utf8');
/** Each route table file and the prefix all of its routes live under. */
const ROUTE_FILES = [
  { file: 'src/http/routes/index.ts', prefix: '^\\/v2' },
  { file: 'src/http/api/index.ts', prefix: '^\\/api\\/v1' },
  // BERTH_AUTH=token: the token endpoint and JWKS, and account management (under /api/v1 too).
  { file: 'src/http/routes/token.ts', prefix: '^\\/' },
  { file: 'src/http/routes/management.ts', prefix: '^\\/api\\/v1' },
  // BERTH_UI: the browser's sign-in session.
  { file: 'src/ui/session-routes.ts', prefix: '^\\/api\\/v1' },
].map((f) => ({ ...f, text: readFileSync(new URL(f.file, root), 'utf8') }));
/** /healthz, /readyz and /metrics: plain string paths, read separately. */
const operationsText = readFileSync(new URL('src/http/routes/operations.ts', root), 'utf8');

type Json = Record<string, unknown>;
const doc = parse(yamlText) as Json;

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Follows a local `#/…` reference. */
function resolve(node: unknown): unknown {
  if (!isObject(node) || typeof node.$ref !== 'string') return node;
  const ref = node.$ref;
  assert.ok(ref.startsWith('#/'), `only local references are expected, got ${ref}`);
  let target: unknown = doc;
  for (const part of ref.slice(2).split('/')) {
    assert.ok(isObject(target), `dangling reference ${ref}`);
    target = target[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  assert.ok(target !== undefined, `dangling reference ${ref}`);
  return resolve(target);
}

function regexFromLiteral(literal: string): RegExp {
  const m = /^\/(.+)\/([a-z]*)$/.exec(literal);
  assert.ok(m, `not a regular expression literal: ${literal}`);
  return new RegExp(m[1]!, m[2]);
}

interface Route {
  method: string;
  pattern: RegExp;
  source: string;
  /** The line's comment says HEAD is served too (Koa's router answers HEAD on GET routes). */
  head: boolean;
  file: string;
}

/** Every route of every table. */
function routeTable(): Route[] {
  return ROUTE_FILES.flatMap((f) => fileRoutes(f.text, f.file));
}

/** One table: `router.<method>(<CONST or /regex/>, …)` lines, with `const X = /…/;` resolved. */
function fileRoutes(routesText: string, file: string): Route[] {
  const consts = new Map<string, RegExp>();
  for (const m of routesText.matchAll(/^\s*const (\w+) = (\/.+\/[a-z]*);\s*$/gm)) consts.set(m[1]!, regexFromLiteral(m[2]!));
  const routes: Route[] = [];
  for (const line of routesText.split('\n')) {
    const call = /\brouter\.(\w+)\(/.exec(line);
    if (!call || call[1] === 'use' || call[1] === 'routes' || call[1] === 'allowedMethods') continue;
    const method = call[1]!;
    if (method === 'all') continue; // the 404/405 fallback, documented in info.description
    assert.ok((HTTP_METHODS as readonly string[]).includes(method), `unexpected router call: ${line.trim()}`);
    const m = /\brouter\.\w+\((\w+|\/.*?\/[a-z]*)\s*,/.exec(line);
    assert.ok(m, `route line in an unrecognised form (teach this test to read it): ${line.trim()}`);
    const target = m[1]!;
    const pattern = target.startsWith('/') ? regexFromLiteral(target) : consts.get(target);
    assert.ok(pattern, `route path ${target} is not a const regex in ${file}`);
    routes.push({ method, pattern, source: target, head: /\/\/.*\bHEAD\b/.test(line), file });
  }
  return routes;
}

/** The probes and metrics routes: `router.get('/healthz', …)` lines of src/http/routes/operations.ts. */
function operationsRoutes(): Route[] {
  const routes = [...operationsText.matchAll(/\brouter\.(\w+)\('(\/[\w/]*)'/g)].map((m) => ({
    method: m[1]!,
    pattern: new RegExp(`^${m[2]!.replace(/\//g, '\\/')}$`),
    source: m[2]!,
    // @koa/router answers HEAD on GET routes; the probes do not document it separately.
    head: false,
    file: 'src/http/routes/operations.ts',
  }));
  assert.ok(routes.length >= 3, `only ${routes.length} operations routes found`);
  return routes;
}

/** Every route the app serves: /v2 and operations. */
function allRoutes(): Route[] {
  return [...routeTable(), ...operationsRoutes()];
}

/** Values for path templates; the repository name has slashes, as real ones do. */
const SAMPLES: Record<string, string> = {
  name: 'team/sub/app',
  account: 'alice',
  id: '42',
  digest: `sha256:${'a'.repeat(64)}`,
  reference: 'latest',
  tag: 'prod',
  uuid: '123e4567-e89b-42d3-a456-426614174000',
};

function samplePath(template: string): string {
  return template.replace(/\{(\w+)\}/g, (_, p: string) => {
    assert.ok(SAMPLES[p], `no sample value for path parameter {${p}} in ${template}`);
    return SAMPLES[p]!;
  });
}

interface Operation {
  path: string;
  method: string;
  op: Json;
}

function documentedOperations(): Operation[] {
  const paths = doc.paths;
  assert.ok(isObject(paths));
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(paths)) {
    assert.ok(isObject(item), path);
    for (const method of HTTP_METHODS) {
      const op = item[method];
      if (isObject(op)) ops.push({ path, method, op });
    }
  }
  return ops;
}

describe('openapi.yaml', () => {
  it('is an OpenAPI 3.1 document with info and paths', () => {
    assert.match(String(doc.openapi), /^3\.1\.\d+$/);
    assert.ok(isObject(doc.info));
    assert.equal(typeof doc.info.title, 'string');
    assert.equal(typeof doc.info.version, 'string');
    assert.ok(isObject(doc.paths) && Object.keys(doc.paths).length > 0);
  });

  it('passes the OpenAPI 3.1 schema and @readme/openapi-parser checks', async () => {
    const result = await validate(structuredClone(doc) as unknown as Parameters<typeof validate>[0]);
    assert.ok(result.valid, compileErrors(result));
    assert.equal(result.specification, 'OpenAPI');
    assert.deepEqual(result.warnings, []);
  });

  it('reads plausible route tables from src/http/routes/index.ts, src/http/api/index.ts, token.ts and management.ts', () => {
    const counts = ROUTE_FILES.map((f) => fileRoutes(f.text, f.file).length);
    assert.ok(counts[0]! >= 10, `only ${counts[0]} /v2 routes found`);
    assert.ok(counts[1]! >= 5, `only ${counts[1]} /api/v1 routes found`);
    assert.ok(counts[2]! >= 3, 'GET/POST /token and the JWKS');
    assert.ok(counts[3]! >= 8, 'the account management API');
    for (const f of ROUTE_FILES) {
      for (const r of fileRoutes(f.text, f.file)) assert.ok(r.pattern.source.startsWith(f.prefix), `${f.file}: ${r.method} ${r.source}`);
    }
  });

  it('documents every route with its method (and HEAD where the route serves it)', () => {
    const ops = documentedOperations();
    for (const route of allRoutes()) {
      const methods = route.head ? [route.method, 'head'] : [route.method];
      for (const method of methods) {
        const found = ops.filter((o) => o.method === method && route.pattern.test(samplePath(o.path)));
        assert.ok(found.length > 0, `${method.toUpperCase()} ${route.pattern} (router.${route.method}(${route.source})) is not in openapi.yaml`);
      }
    }
  });

  it('documents nothing that no route serves', () => {
    const routes = allRoutes();
    for (const { path, method } of documentedOperations()) {
      // @koa/router answers HEAD on GET routes.
      const served = method === 'head' ? 'get' : method;
      assert.ok(
        routes.some((r) => r.method === served && r.pattern.test(samplePath(path))),
        `${method.toUpperCase()} ${path} is documented but no route in index.ts matches it`,
      );
    }
  });

  it('cites a spec endpoint id or says there is none, for every operation', () => {
    for (const { path, method, op } of documentedOperations()) {
      const text = `${String(op.summary ?? '')} ${String(op.description ?? '')}`;
      assert.match(text, /\bend-\d+[ab]?\b|no end-N id/, `${method.toUpperCase()} ${path}`);
    }
  });

  it('gives every response the request id, and every /v2 response the API version header', () => {
    for (const { path, method, op } of documentedOperations()) {
      assert.ok(isObject(op.responses), `${method} ${path} has no responses`);
      for (const [status, ref] of Object.entries(op.responses)) {
        const response = resolve(ref);
        assert.ok(isObject(response), `${method} ${path} ${status}`);
        assert.ok(isObject(response.headers), `${method.toUpperCase()} ${path} ${status} documents no headers`);
        // The API version header is set on /v2 responses only.
        const headers = path.startsWith('/v2') ? ['X-Request-Id', 'Docker-Distribution-API-Version'] : ['X-Request-Id'];
        for (const header of headers) {
          assert.ok(header in response.headers, `${method.toUpperCase()} ${path} ${status} lacks ${header}`);
        }
        if (method === 'head') assert.equal(response.content, undefined, `HEAD ${path} ${status} has no body`);
      }
    }
  });

  it('lists exactly the error catalog in the ErrorCode enum, used by the error envelope', () => {
    const schemas = (doc.components as Json).schemas as Json;
    const codes = (schemas.ErrorCode as Json).enum as string[];
    assert.deepEqual([...codes].sort(), Object.keys(ERROR_CATALOG).sort());
    const envelope = schemas.ErrorEnvelope as Json;
    const item = resolve(((envelope.properties as Json).errors as Json).items) as Json;
    assert.deepEqual((item.properties as Json).code, { $ref: '#/components/schemas/ErrorCode' });
    // The table in the enum's description gives each code's status as the catalog does.
    const description = String((schemas.ErrorCode as Json).description);
    for (const [code, { status }] of Object.entries(ERROR_CATALOG)) {
      assert.match(description, new RegExp(`\\| ${code} \\| ${status} \\|`), `${code} ${status} in the ErrorCode table`);
    }
  });
});
