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

function basic(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

export class ApiClient {
  /** Tokens by scope, reused for later requests needing the same scope. */
  private readonly tokens = new Map<string, string>();

  constructor(
    readonly baseUrl: string,
    private readonly credentials: Credentials | undefined,
    private readonly userAgent = 'berth-cli',
  ) {}

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
    const res = await fetch(this.baseUrl + path, {
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
    if (challenge.scheme === 'basic') return this.credentials ? basic(this.credentials) : undefined;
    if (challenge.scheme !== 'bearer' || !challenge.params.realm) return undefined;
    const scope = challenge.params.scope ?? '';
    const cached = this.tokens.get(scope);
    if (cached) return `Bearer ${cached}`;
    const url = new URL(challenge.params.realm, this.baseUrl);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    for (const s of scope.split(' ').filter(Boolean)) url.searchParams.append('scope', s);
    if (this.credentials) url.searchParams.set('account', this.credentials.username);
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': this.userAgent };
    if (this.credentials) headers.Authorization = basic(this.credentials);
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    if (!res.ok) {
      throw new ApiError(res.status, 'UNAUTHORIZED', `the token server at ${url.origin}${url.pathname} refused the credentials (HTTP ${res.status})`);
    }
    const token = (JSON.parse(text) as { token?: string; access_token?: string }).token ?? (JSON.parse(text) as { access_token?: string }).access_token;
    if (!token) throw new ApiError(502, 'UNAUTHORIZED', 'the token server answered without a token');
    this.tokens.set(scope, token);
    return `Bearer ${token}`;
  }
}
