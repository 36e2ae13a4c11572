// The client of one upstream registry: Docker's token authentication (anonymous, Basic, or a Bearer
// token from the realm the upstream names), a retry on transport errors and 502/503/504, a bound
// on how long the upstream may take to answer, and redirects followed without credentials (Docker
// Hub sends blob GETs to a CDN). Credentials go only to the upstream and its token realm.
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import type { ProxyConfig } from './settings.js';

/** What a pull accepts: every manifest kind, so the upstream answers with what it holds. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.oci.artifact.manifest.v1+json',
].join(', ');

const RETRYABLE = new Set([502, 503, 504]);
const MAX_REDIRECTS = 5;
/** Tokens are renewed this long before the upstream says they expire. */
const TOKEN_MARGIN_MS = 10_000;

/** The upstream could not be asked (unreachable, timed out) or answered with an error status. */
export class UpstreamError extends Error {
  override name = 'UpstreamError';
  constructor(
    readonly upstream: string,
    /** The upstream's status; undefined when it did not answer. */
    readonly status: number | undefined,
    message: string,
    /** The upstream's Retry-After, when it sent one (429, 503). */
    readonly retryAfter?: string,
    /** The answer started, then its body broke off: asking again may well work. */
    readonly brokeOff = false,
  ) {
    super(message);
  }

  /** Whether a cached copy should be served instead: the upstream is away or refusing for now. */
  get upstreamAway(): boolean {
    return this.status === undefined || this.status === 429 || this.status >= 500;
  }
}

export interface UpstreamResponse {
  status: number;
  headers: Headers;
  /** Undefined for HEAD. */
  body: Readable | undefined;
}

interface Exchange {
  status: number;
  headers: Headers;
  body: Readable;
}

interface CachedToken {
  value: string;
  expiresAt: number;
}

export class UpstreamClient {
  private readonly tokens = new Map<string, CachedToken>();
  /** The upstream's challenge, learnt from its first 401: later requests authenticate up front. */
  private challenge: { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service: string | undefined } | undefined;

  constructor(private readonly config: Pick<ProxyConfig, 'upstream' | 'credentials' | 'timeoutMs'>) {}

  get upstream(): string {
    return this.config.upstream;
  }

  /**
   * GET or HEAD `/v2/<name>/<path>` on the upstream. Error statuses are thrown as UpstreamError,
   * except 404 when `allowNotFound` (then returned). The body must be consumed or cancelled.
   */
  async request(method: 'GET' | 'HEAD', name: string, path: string, options: { accept?: string } = {}): Promise<UpstreamResponse> {
    const url = `${this.config.upstream}/v2/${name}/${path}`;
    const scope = `repository:${name}:pull`;
    let lastError: UpstreamError | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (attempt > 0) await sleep(250);
      let res: Exchange;
      try {
        res = await this.send(method, url, await this.authorization(scope), options.accept);
        if (res.status === 401) {
          drop(res.body);
          this.learnChallenge(res.headers.get('www-authenticate'));
          this.tokens.delete(scope);
          res = await this.send(method, url, await this.authorization(scope), options.accept);
        }
      } catch (err) {
        if (err instanceof UpstreamError) throw err;
        lastError = new UpstreamError(this.upstream, undefined, `${this.upstream} is unreachable: ${describe(err)}`);
        continue;
      }
      if (res.status >= 200 && res.status < 300) {
        if (method === 'HEAD') drop(res.body);
        return { status: res.status, headers: res.headers, body: method === 'HEAD' ? undefined : res.body };
      }
      drop(res.body);
      const retryAfter = res.headers.get('retry-after') ?? undefined;
      lastError = new UpstreamError(this.upstream, res.status, `${this.upstream} answered ${res.status} to ${method} /v2/${name}/${path}`, retryAfter);
      if (!RETRYABLE.has(res.status)) throw lastError;
    }
    throw lastError!;
  }

  /**
   * One HTTP exchange, following redirects (without credentials once off the upstream's origin).
   * undici's request() rather than fetch(): its body is a Node stream, without the cost of a web
   * stream in between on every chunk of a layer.
   */
  private async send(method: string, url: string, authorization: string | undefined, accept: string | undefined): Promise<Exchange> {
    let target = url;
    let auth = authorization;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const res = await request(target, {
        method: method as 'GET' | 'HEAD',
        headers: { ...(auth ? { authorization: auth } : {}), ...(accept ? { accept } : {}), 'user-agent': 'berth-pull-through' },
        // Bounds the wait for the answer's headers, and any stall of its body.
        headersTimeout: this.config.timeoutMs,
        bodyTimeout: Math.max(this.config.timeoutMs, 30_000),
      });
      const headers = new Headers();
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
      const location = headers.get('location');
      if (res.statusCode < 300 || res.statusCode >= 400 || !location) return { status: res.statusCode, headers, body: res.body };
      drop(res.body);
      const next = new URL(location, target);
      if (next.origin !== new URL(this.config.upstream).origin) auth = undefined;
      target = next.toString();
    }
    throw new Error(`more than ${MAX_REDIRECTS} redirects from ${url}`);
  }

  private learnChallenge(header: string | null): void {
    if (!header) throw new UpstreamError(this.upstream, 401, `${this.upstream} answered 401 without a WWW-Authenticate challenge`);
    const scheme = header.trim().split(/\s+/, 1)[0]!.toLowerCase();
    if (scheme === 'basic') {
      if (!this.config.credentials || 'token' in this.config.credentials) throw new UpstreamError(this.upstream, 401, `${this.upstream} asks for a username and password, and none is configured`);
      this.challenge = { scheme: 'basic' };
      return;
    }
    if (scheme === 'bearer') {
      const params = parseChallengeParams(header.slice(header.indexOf(' ') + 1));
      if (!params.realm || !URL.canParse(params.realm) || !/^https?:$/.test(new URL(params.realm).protocol)) {
        throw new UpstreamError(this.upstream, 401, `${this.upstream}'s Bearer challenge names no http(s) realm`);
      }
      this.challenge = { scheme: 'bearer', realm: params.realm, service: params.service };
      return;
    }
    throw new UpstreamError(this.upstream, 401, `${this.upstream} asks for an unsupported authentication scheme "${scheme}"`);
  }

  /** The Authorization header for a request in `scope`, fetching a token when the upstream wants one. */
  private async authorization(scope: string): Promise<string | undefined> {
    const credentials = this.config.credentials;
    if (credentials && 'token' in credentials) return `Bearer ${credentials.token}`;
    if (!this.challenge) return undefined;
    if (this.challenge.scheme === 'basic') return credentials ? basic(credentials) : undefined;
    const cached = this.tokens.get(scope);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.value}`;
    const token = await this.fetchToken(this.challenge.realm, this.challenge.service, scope);
    this.tokens.set(scope, token);
    return `Bearer ${token.value}`;
  }

  private async fetchToken(realm: string, service: string | undefined, scope: string): Promise<CachedToken> {
    const url = new URL(realm);
    if (service) url.searchParams.set('service', service);
    url.searchParams.set('scope', scope);
    const credentials = this.config.credentials;
    // Basic credentials go to the realm only over TLS, or to the upstream's own host.
    const mayCarry = url.protocol === 'https:' || url.hostname === new URL(this.config.upstream).hostname;
    const headers: Record<string, string> = credentials && !('token' in credentials) && mayCarry ? { Authorization: basic(credentials) } : {};
    let res: Response;
    try {
      res = await fetch(url, { headers, signal: AbortSignal.timeout(this.config.timeoutMs) });
    } catch (err) {
      throw new UpstreamError(this.upstream, undefined, `the token service of ${this.upstream} (${url.origin}) is unreachable: ${describe(err)}`);
    }
    if (!res.ok) {
      await discard(res);
      throw new UpstreamError(this.upstream, res.status >= 500 || res.status === 429 ? res.status : 401, `the token service of ${this.upstream} answered ${res.status}`);
    }
    const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string; expires_in?: number };
    const value = body.token ?? body.access_token;
    if (!value) throw new UpstreamError(this.upstream, 401, `the token service of ${this.upstream} answered without a token`);
    const lifetimeS = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    return { value, expiresAt: Date.now() + lifetimeS * 1000 - TOKEN_MARGIN_MS };
  }
}

/** Lets go of a body not read (undici's destroy() emits an error, which must find a listener). */
function drop(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

function basic(c: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

/** `realm="…",service="…",scope="…"` (quoted or bare values). */
export function parseChallengeParams(text: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const m of text.matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
  }
  return params;
}

async function discard(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => {});
}

function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
