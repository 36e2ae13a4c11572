// Storage quotas (BERTH_QUOTAS): a repository glob and a number of bytes. A rule covers every
// repository its glob matches, together: `team/*` with 10 GiB is the team's whole allowance, and a
// blob shared by two of its repositories counts once. Globs are those of BERTH_IMMUTABLE_TAGS.

export interface QuotaRule {
  /** Glob over repository names, e.g. `team/*`; `*` crosses `/`. */
  repository: string;
  /** The allowance in bytes. */
  bytes: number;
}

const UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KIB: 1024,
  MIB: 1024 ** 2,
  GIB: 1024 ** 3,
  TIB: 1024 ** 4,
};

/** `10GiB`, `500MB`, `1.5TiB`, `1048576`: bytes, or undefined when it is not a size. */
export function parseByteSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const m = /^\s*(\d{1,15}(?:\.\d{1,6})?)\s*([a-zA-Z]{0,3})\s*$/.exec(value);
  const unit = m ? UNITS[m[2]!.toUpperCase()] : undefined;
  if (!m || unit === undefined) return undefined;
  const bytes = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
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
