// `berth history | rollback | diff`: the CLI's client commands, talking to a running Berth over
// /api/v1 (so they work from a laptop or a CI job). Each returns the text to print.
import type { ApiClient } from './api-client.js';
import { humanSize } from '../registry/byte-size.js';
import { shortDigest, shortTime, table } from './format.js';
import { UsageError } from '../usage-error.js';

/** One tag event as GET …/history answers it. */
export interface EventJson {
  revision: number;
  action: string;
  digest: string | null;
  previousDigest: string | null;
  actor: string;
  at: string;
  reason: string | null;
}

/** `team/app:prod` → repository and tag. Tags never contain `/`; names never contain `:`. */
export function parseTagRef(ref: string): { repository: string; tag: string } {
  const colon = ref.lastIndexOf(':');
  if (colon <= 0 || ref.indexOf('/', colon) !== -1 || colon === ref.length - 1) {
    throw new UsageError(`expected <name>:<tag>, like team/app:prod, got "${ref}"`);
  }
  return { repository: ref.slice(0, colon), tag: ref.slice(colon + 1) };
}

function repoPath(repository: string): string {
  return `/api/v1/repositories/${repository.split('/').map(encodeURIComponent).join('/')}`;
}

export async function historyCommand(client: ApiClient, ref: string, options: { limit: number; json: boolean }): Promise<string> {
  const { repository, tag } = parseTagRef(ref);
  const events: EventJson[] = [];
  let current: string | null = null;
  let before: number | null = null;
  // Pages of up to 1000 until `limit` events are shown.
  do {
    const n = Math.min(1000, options.limit - events.length);
    const query: string = `?n=${n}${before ? `&before=${before}` : ''}`;
    const page: { current: string | null; events: EventJson[]; next: number | null } = await client.get(`${repoPath(repository)}/tags/${encodeURIComponent(tag)}/history${query}`);
    current = page.current;
    events.push(...page.events);
    before = page.next;
  } while (before !== null && events.length < options.limit);
  if (options.json) return JSON.stringify({ repository, tag, current, events }, null, 2);
  const rows = events.map((e) => [
    String(e.revision),
    e.action,
    shortDigest(e.digest),
    shortDigest(e.previousDigest),
    e.actor,
    shortTime(e.at),
    e.reason ?? '',
  ]);
  const head = `${repository}:${tag} → ${current ?? '(deleted)'}`;
  const more = before !== null ? `\n(older events: --limit ${options.limit * 2})` : '';
  return `${head}\n\n${table(['REV', 'ACTION', 'DIGEST', 'PREVIOUS', 'ACTOR', 'WHEN', 'REASON'], rows)}${more}`;
}

export interface RollbackOptions {
  to?: string | undefined;
  revision?: string | undefined;
  digest?: string | undefined;
  at?: string | undefined;
  force: boolean;
  expect?: string | undefined;
  reason?: string | undefined;
  dryRun: boolean;
  json: boolean;
}

export function rollbackBody(o: RollbackOptions): Record<string, unknown> {
  const given = (['to', 'revision', 'digest', 'at'] as const).filter((k) => o[k] !== undefined);
  if (given.length > 1) throw new UsageError(`give one of --to, --revision, --digest, --at (got ${given.map((g) => `--${g}`).join(', ')})`);
  const body: Record<string, unknown> = {};
  if (o.revision !== undefined) {
    if (!/^\d+$/.test(o.revision)) throw new UsageError(`--revision takes a revision number, got "${o.revision}"`);
    body.revision = Number(o.revision);
  } else if (o.digest !== undefined) body.digest = o.digest;
  else if (o.at !== undefined) body.at = o.at;
  else {
    if (o.to !== undefined && o.to !== 'previous') throw new UsageError(`--to takes only "previous", got "${o.to}"`);
    body.to = 'previous';
  }
  if (o.force) {
    if (o.digest === undefined) throw new UsageError('--force goes with --digest');
    body.force = true;
  }
  if (o.expect !== undefined) body.expect = o.expect === 'none' ? null : o.expect;
  if (o.reason !== undefined) body.reason = o.reason;
  if (o.dryRun) body.dryRun = true;
  return body;
}

export async function rollbackCommand(client: ApiClient, ref: string, options: RollbackOptions): Promise<string> {
  const { repository, tag } = parseTagRef(ref);
  const body = rollbackBody(options);
  const result: { from: string | null; to: string; changed: boolean; dryRun: boolean; event: EventJson | null } = await client.post(
    `${repoPath(repository)}/tags/${encodeURIComponent(tag)}/rollback`,
    body,
  );
  if (options.json) return JSON.stringify(result, null, 2);
  const what = `${repository}:${tag}: ${result.from ?? '(deleted)'} → ${result.to}`;
  if (!result.changed) return `${repository}:${tag} already points at ${result.to}; nothing to do`;
  if (result.dryRun) return `dry run, nothing changed: ${what} would be revision ${result.event?.revision}`;
  return `${what}\nrevision ${result.event?.revision} (rollback by ${result.event?.actor}${result.event?.reason ? `: ${result.event.reason}` : ''})`;
}

interface LayerRef {
  digest: string;
  size: number;
}

interface DiffJson {
  from: { ref: string; digest: string };
  to: { ref: string; digest: string };
  identical: boolean;
  platforms: {
    platform: string;
    status: string;
    layers: { added: LayerRef[]; removed: LayerRef[]; kept: LayerRef[]; fromSize: number; toSize: number } | null;
    config: { changes: Record<string, unknown> } | null;
  }[];
}

function formatValue(v: unknown): string {
  return v === null || v === undefined ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v);
}

function formatChanges(changes: Record<string, unknown>): string[] {
  const lines: string[] = [];
  for (const [field, change] of Object.entries(changes)) {
    const c = change as Record<string, unknown>;
    if (field === 'env' || field === 'labels') {
      const m = c as { added: Record<string, string>; removed: Record<string, string>; changed: Record<string, { from: string; to: string }> };
      for (const [k, v] of Object.entries(m.added)) lines.push(`${field}: + ${k}=${v}`);
      for (const [k, v] of Object.entries(m.removed)) lines.push(`${field}: - ${k}=${v}`);
      for (const [k, v] of Object.entries(m.changed)) lines.push(`${field}: ~ ${k}: ${v.from} → ${v.to}`);
    } else if (field === 'exposedPorts') {
      const p = c as { added: string[]; removed: string[] };
      for (const port of p.added) lines.push(`exposed port: + ${port}`);
      for (const port of p.removed) lines.push(`exposed port: - ${port}`);
    } else {
      lines.push(`${field}: ${formatValue(c.from)} → ${formatValue(c.to)}`);
    }
  }
  return lines;
}

export async function diffCommand(client: ApiClient, repository: string, from: string, to: string, options: { json: boolean }): Promise<string> {
  const query = `?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
  const diff: DiffJson = await client.get(`${repoPath(repository)}/diff${query}`);
  if (options.json) return JSON.stringify(diff, null, 2);
  const out = [`${repository}: ${from} (${shortDigest(diff.from.digest)}) → ${to} (${shortDigest(diff.to.digest)})${diff.identical ? ': identical' : ''}`];
  for (const p of diff.platforms) {
    out.push('', `${p.platform}: ${p.status}`);
    if (p.layers && p.status !== 'unchanged') {
      const l = p.layers;
      out.push(`  layers: ${l.added.length} added, ${l.removed.length} removed, ${l.kept.length} kept; ${humanSize(l.fromSize)} → ${humanSize(l.toSize)}`);
      for (const a of l.added) out.push(`    + ${a.digest}  ${humanSize(a.size)}`);
      for (const r of l.removed) out.push(`    - ${r.digest}  ${humanSize(r.size)}`);
    }
    const changes = p.config ? formatChanges(p.config.changes) : [];
    if (changes.length > 0) out.push('  config:', ...changes.map((c) => `    ${c}`));
  }
  return out.join('\n');
}
