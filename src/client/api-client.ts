// The CLI's HTTP client for Berth's /api/v1, with the client side of Docker registry token auth:
// a 401 carrying `WWW-Authenticate: Bearer realm=…,service=…,scope=…` is answered by fetching a
// token from the realm (with HTTP Basic credentials when there are some, anonymously otherwise) and
// retrying once with `Authorization: Bearer`; a `Basic` challenge is retried with Basic credentials.
import type { Credentials } from './credentials.js';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail: unknown = null,
  ) {
    super(message);
  }
}

/** The registry could not be reached at all (refused, unknown host, timed out). */
export class RegistryUnreachableError extends Error {
  override name = 'RegistryUnreachableError';
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** RFC 7235 `WWW-Authenticate: <scheme> k="v", k2=v2` (one challenge; quoted values may hold commas). */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

/** HTTP Basic for a user name and password; undefined for an identity token, which only the token endpoint takes. */
function basic(c: Credentials | undefined): string | undefined {
  if (!c || !('password' in c)) return undefined;
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

export class ApiClient {
  /** Tokens by scope, reused for later requests needing the same scope. */
  private readonly tokens = new Map<string, string>();

  constructor(
    readonly baseUrl: string,
    private readonly credentials: Credentials | undefined,
    private readonly userAgent = 'berth-cli',
    /** How the user chose this address, named when it cannot be reached (`BERTH_ADDR`, `the default`). */
    private readonly addressSource = '--registry',
  ) {}

  /** fetch, with a failure to connect turned into one line saying how to point the CLI elsewhere. */
  private async fetch(url: string | URL, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = (err as Error).name === 'TimeoutError' ? 'timed out' : (cause?.code ?? cause?.message ?? (err as Error).message);
      throw new RegistryUnreachableError(
        `cannot reach the registry at ${new URL(url).origin} (${why}; address from ${this.addressSource}); point the CLI at Berth with --registry URL or BERTH_REGISTRY=URL`,
        { cause: err },
      );
    }
  }

  async get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  private async request<T>(method: string, path: string, body?: unknown, authorization?: string): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': this.userAgent };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (authorization) headers.Authorization = authorization;
    const res = await this.fetch(this.baseUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    if (res.status === 401 && authorization === undefined) {
      const retryWith = await this.answerChallenge(parseChallenge(res.headers.get('WWW-Authenticate')));
      await res.arrayBuffer();
      if (retryWith) return this.request<T>(method, path, body, retryWith);
      throw new ApiError(401, 'UNAUTHORIZED', 'the registry wants credentials: pass --username/--password, set BERTH_USERNAME/BERTH_PASSWORD, or docker login');
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const first = (parsed as { errors?: { code?: string; message?: string; detail?: unknown }[] } | undefined)?.errors?.[0];
      throw new ApiError(res.status, first?.code ?? `HTTP_${res.status}`, first?.message ?? (text.slice(0, 300) || res.statusText), first?.detail ?? null);
    }
    return parsed as T;
  }

  /** The Authorization value to retry with, or undefined when the challenge cannot be answered. */
  private async answerChallenge(challenge: Challenge | undefined): Promise<string | undefined> {
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') return basic(this.credentials);
    if (challenge.scheme !== 'bearer' || !challenge.params.realm) return undefined;
    const scope = challenge.params.scope ?? '';
    const cached = this.tokens.get(scope);
    if (cached) return `Bearer ${cached}`;
    const url = new URL(challenge.params.realm, this.baseUrl);
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': this.userAgent };
    const scopes = scope.split(' ').filter(Boolean);
    let res: Response;
    if (this.credentials && 'identityToken' in this.credentials) {
      // What `docker login` stored is a refresh token: trade it for an access token (OAuth2 form, as docker does).
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: this.credentials.identityToken, client_id: this.userAgent });
      if (challenge.params.service) form.set('service', challenge.params.service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      res = await this.fetch(url, { method: 'POST', headers, body: form.toString(), signal: AbortSignal.timeout(30_000) });
    } else {
      if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
      for (const s of scopes) url.searchParams.append('scope', s);
      if (this.credentials) url.searchParams.set('account', this.credentials.username);
      const authorization = basic(this.credentials);
      if (authorization) headers.Authorization = authorization;
      res = await this.fetch(url, { headers, signal: AbortSignal.timeout(30_000) });
    }
    const text = await res.text();
    if (!res.ok) {
      const what = this.credentials && 'identityToken' in this.credentials ? 'the token docker login stored (run docker login again)' : 'the credentials';
      throw new ApiError(res.status, 'UNAUTHORIZED', `the token server at ${url.origin}${url.pathname} refused ${what} (HTTP ${res.status})`);
    }
    const parsed = JSON.parse(text) as { token?: string; access_token?: string };
    const token = parsed.token ?? parsed.access_token;
    if (!token) throw new ApiError(502, 'UNAUTHORIZED', 'the token server answered without a token');
    this.tokens.set(scope, token);
    return `Bearer ${token}`;
  }
}
