// Calls to Berth's /api/v1 from the UI's pages. Every call says it comes from the UI (X-Berth-UI), so
// the server counts the session cookie; state-changing calls echo the CSRF cookie.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function cookie(name: string): string {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return '';
}

/** Fired on window when a call made with a session got 401: the session ended (signed out elsewhere, expired, revoked). */
export const SESSION_ENDED_EVENT = 'berth-session-ended';

export async function api<T>(path: string, options: { method?: string; body?: unknown } = {}): Promise<T> {
  // The session cookie is HttpOnly; its CSRF companion, set and cleared with it, says whether we had one.
  const hadSession = cookie('berth_csrf') !== '';
  const headers: Record<string, string> = { 'X-Berth-UI': '1', Accept: 'application/json' };
  if (options.method && options.method !== 'GET') headers['X-Berth-CSRF'] = cookie('berth_csrf');
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'Berth could not be reached. Check the connection and try again.');
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let body: any;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    if (res.status === 401 && hadSession) window.dispatchEvent(new Event(SESSION_ENDED_EVENT));
    const e = body?.errors?.[0];
    throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? `the request failed with status ${res.status}`);
  }
  return body as T;
}

export const enc = encodeURIComponent;
/** A repository name in a path: its slashes stay slashes. */
export const encName = (name: string) => name.split('/').map(enc).join('/');

export interface Session {
  auth: 'token' | 'none';
  user: { name: string; kind: string; admin: boolean } | null;
  registry: string;
  actions?: string[];
}

export interface Repository {
  name: string;
  tagCount: number;
  updatedAt: string;
  updatedBy: string | null;
  size: number;
}

export interface Referrer {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
}

export interface Tag {
  name: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  manifestSize: number;
  imageSize: number | null;
  platforms: string[];
  revision: number;
  updatedAt: string;
  updatedBy: string | null;
  immutable: boolean;
  referrers: Referrer[];
}

export interface TagEvent {
  revision: number;
  action: 'push' | 'move' | 'delete' | 'rollback';
  digest: string | null;
  previousDigest: string | null;
  actor: string;
  at: string;
  reason: string | null;
  userAgent: string | null;
}

export interface Layer {
  digest: string;
  size: number;
  mediaType: string;
}

export interface MapChanges {
  added: Record<string, string>;
  removed: Record<string, string>;
  changed: Record<string, { from: string; to: string }>;
}

export interface ConfigChanges {
  entrypoint?: { from: string[] | null; to: string[] | null };
  cmd?: { from: string[] | null; to: string[] | null };
  user?: { from: string | null; to: string | null };
  workingDir?: { from: string | null; to: string | null };
  created?: { from: string | null; to: string | null };
  env?: MapChanges;
  labels?: MapChanges;
  exposedPorts?: { added: string[]; removed: string[] };
}

export interface ImageDiff {
  repository: string;
  from: { ref: string; digest: string; mediaType: string };
  to: { ref: string; digest: string; mediaType: string };
  identical: boolean;
  platforms: {
    platform: string;
    status: 'added' | 'removed' | 'changed' | 'unchanged';
    from: string | null;
    to: string | null;
    layers: { added: Layer[]; removed: Layer[]; kept: Layer[]; fromSize: number; toSize: number } | null;
    config: { from: string | null; to: string | null; changes: ConfigChanges } | null;
  }[];
}

export interface ImageDetails {
  repository: string;
  ref: string;
  digest: string;
  mediaType: string;
  size: number;
  manifest: unknown;
  annotations: Record<string, string>;
  referrers: Referrer[];
  platforms: {
    platform: string;
    digest: string;
    mediaType: string;
    config: Layer | null;
    layers: Layer[];
    size: number;
    summary: {
      created: string | null;
      entrypoint: string[] | null;
      cmd: string[] | null;
      env: Record<string, string>;
      labels: Record<string, string>;
      exposedPorts: string[];
      user: string | null;
      workingDir: string | null;
    } | null;
    history: { created: string | null; createdBy: string | null; comment: string | null; emptyLayer: boolean }[];
    annotations: Record<string, string>;
  }[];
}
