// Storage accounting for the management API: a repository's logical size (the unique blobs its
// manifests reference) and, for each BERTH_QUOTAS rule covering it, what the rule's repositories use.
import type pg from 'pg';
import { findRepositoryId } from '../db/repositories.js';
import { prefixUsage, repositoryUsage, type RepositoryUsage } from '../db/usage.js';
import { RegistryError } from '../errors/registry-error.js';
import { globToRegexSource, type Quotas } from '../registry/quotas.js';

export interface UsageReport extends RepositoryUsage {
  repository: string;
  quotas: { repository: string; bytes: number; used: number }[];
}

export class UsageService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly quotas: Quotas,
  ) {}

  async usage(repository: string): Promise<UsageReport> {
    const repositoryId = await findRepositoryId(this.pool, repository);
    if (repositoryId === undefined) throw new RegistryError('NAME_UNKNOWN', { detail: { name: repository } });
    const usage = await repositoryUsage(this.pool, repositoryId);
    const quotas = await Promise.all(
      this.quotas.rulesFor(repository).map(async ({ rule, regexSource }) => ({
        repository: rule.repository,
        bytes: rule.bytes,
        used: (await prefixUsage(this.pool, regexSource)).used,
      })),
    );
    return { repository, ...usage, quotas };
  }

  /** Every BERTH_QUOTAS rule with what the repositories it covers use together. */
  async quotaUse(): Promise<{ repository: string; bytes: number; used: number }[]> {
    return Promise.all(
      this.quotas.rules.map(async (rule) => ({
        repository: rule.repository,
        bytes: rule.bytes,
        used: (await prefixUsage(this.pool, globToRegexSource(rule.repository))).used,
      })),
    );
  }
}
