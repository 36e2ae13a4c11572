// Immutable tags (BERTH_IMMUTABLE_TAGS): rules of a repository pattern and tag patterns. A tag that
// matches a rule may be created, but never moved to another digest, deleted or rolled back.
// Patterns are globs: `*` is any run of characters (in repository patterns it crosses `/`, so
// `team/*` covers `team/app` and `team/sub/app`), `?` is one character, anything else is literal.
import { RegistryError } from '../errors/registry-error.js';

export interface ImmutableTagRule {
  /** Glob over repository names, e.g. `team/*` or `*`. */
  repository: string;
  /** Globs over tag names, e.g. `v*`, `release-?.?`. */
  tags: string[];
  /** Shown in the refusal; defaults to the rule's patterns. */
  name?: string | undefined;
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** How a rule is named in messages: its name, or its patterns. */
export function describeRule(rule: ImmutableTagRule, index: number): string {
  const patterns = `repository "${rule.repository}", tags ${rule.tags.map((t) => `"${t}"`).join(', ')}`;
  return rule.name ? `"${rule.name}" (${patterns})` : `#${index + 1} (${patterns})`;
}

export class ImmutableTags {
  private readonly compiled: { rule: ImmutableTagRule; index: number; repository: RegExp; tags: RegExp[] }[];

  constructor(rules: readonly ImmutableTagRule[] = []) {
    this.compiled = rules.map((rule, index) => ({
      rule,
      index,
      repository: globToRegExp(rule.repository),
      tags: rule.tags.map(globToRegExp),
    }));
  }

  /** The first rule that makes `tag` of `repository` immutable. */
  ruleFor(repository: string, tag: string): { rule: ImmutableTagRule; index: number } | undefined {
    const hit = this.compiled.find((c) => c.repository.test(repository) && c.tags.some((t) => t.test(tag)));
    return hit ? { rule: hit.rule, index: hit.index } : undefined;
  }

  /**
   * Throws DENIED when changing an existing tag of `repository` (to another digest, or deleting it)
   * is forbidden by a rule. Creating a tag that does not exist is always allowed.
   */
  assertMayChange(repository: string, change: { tag: string; current: string | null; next: string | null }, verb: string): void {
    if (change.current === null || change.current === change.next) return;
    const hit = this.ruleFor(repository, change.tag);
    if (!hit) return;
    throw new RegistryError('DENIED', {
      message: `tag "${change.tag}" of ${repository} is immutable (BERTH_IMMUTABLE_TAGS rule ${describeRule(hit.rule, hit.index)}): it cannot be ${verb}`,
      detail: { repository, tag: change.tag, digest: change.current, rule: { index: hit.index + 1, ...hit.rule } },
    });
  }
}
