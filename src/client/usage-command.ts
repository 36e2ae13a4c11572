// `berth du [<name>...]`: each repository's logical size (the unique blobs its manifests reference)
// and the quotas covering it, from a running Berth's /api/v1. Without names, every repository.
import type { ApiClient } from './api-client.js';
import { humanSize } from '../registry/byte-size.js';
import { table } from './format.js';

interface UsageJson {
  repository: string;
  blobs: number;
  bytes: number;
  manifests: number;
  manifestBytes: number;
  tags: number;
  quotas: { repository: string; bytes: number; used: number }[];
}

function usagePath(repository: string): string {
  return `/api/v1/repositories/${repository.split('/').map(encodeURIComponent).join('/')}/usage`;
}

async function allRepositories(client: ApiClient): Promise<string[]> {
  const names: string[] = [];
  let last: string | null = null;
  do {
    const page: { repositories: { name: string }[]; next: string | null } = await client.get(
      `/api/v1/repositories?n=1000${last ? `&last=${encodeURIComponent(last)}` : ''}`,
    );
    names.push(...page.repositories.map((r) => r.name));
    last = page.next;
  } while (last !== null);
  return names;
}

export async function duCommand(client: ApiClient, names: string[], options: { json: boolean }): Promise<string> {
  const repositories = names.length > 0 ? names : await allRepositories(client);
  const usages: UsageJson[] = [];
  for (const name of repositories) usages.push(await client.get<UsageJson>(usagePath(name)));
  if (options.json) return JSON.stringify(usages, null, 2);
  if (usages.length === 0) return 'no repositories';
  const rows = usages.map((u) => [
    u.repository,
    humanSize(u.bytes),
    String(u.blobs),
    String(u.manifests),
    String(u.tags),
    u.quotas.map((q) => `${humanSize(q.used)} of ${humanSize(q.bytes)} (${q.repository})`).join(', ') || '-',
  ]);
  const total = usages.reduce((s, u) => s + u.bytes, 0);
  const footer = usages.length > 1 ? `\ntotal ${humanSize(total)} (a blob shared by several repositories counts in each)` : '';
  return `${table(['REPOSITORY', 'SIZE', 'BLOBS', 'MANIFESTS', 'TAGS', 'QUOTA'], rows)}${footer}`;
}
