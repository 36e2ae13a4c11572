// Storage quotas (BERTH_QUOTAS): a repository glob and a number of bytes (byte-size.ts reads them). A rule covers every
// repository its glob matches, together: `team/*` with 10 GiB is the team's whole allowance, and a
// blob shared by two of its repositories counts once. Globs are those of BERTH_IMMUTABLE_TAGS.

export interface QuotaRule {
  /** Glob over repository names, e.g. `team/*`; `*` crosses `/`. */
  repository: string;
  /** The allowance in bytes. */
  bytes: number;
}

/** The glob as a POSIX regular expression PostgreSQL's `~` understands (and JavaScript's RegExp). */
export function globToRegexSource(glob: string): string {
  return `^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`;
}

export class Quotas {
  private readonly compiled: { rule: QuotaRule; regex: RegExp; source: string }[];

  constructor(readonly rules: readonly QuotaRule[] = []) {
    this.compiled = rules.map((rule) => {
      const source = globToRegexSource(rule.repository);
      return { rule, regex: new RegExp(source), source };
    });
  }

  /** Every rule covering the repository, with its pattern as a regex source for SQL. */
  rulesFor(repository: string): { rule: QuotaRule; regexSource: string }[] {
    return this.compiled.filter((c) => c.regex.test(repository)).map((c) => ({ rule: c.rule, regexSource: c.source }));
  }
}
