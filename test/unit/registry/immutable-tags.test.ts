import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from '../../../src/errors/registry-error.js';
import { ImmutableTags } from '../../../src/registry/immutable-tags.js';

describe('ImmutableTags (registry/immutable-tags)', () => {
  const rules = new ImmutableTags([
    { repository: 'team/*', tags: ['v*', 'release-?'] },
    { repository: 'infra/base', tags: ['stable'], name: 'base images' },
  ]);

  it('matches repository globs across slashes and tag globs exactly', () => {
    assert.equal(rules.ruleFor('team/app', 'v1.0')?.index, 0);
    assert.equal(rules.ruleFor('team/sub/app', 'v2')?.index, 0);
    assert.equal(rules.ruleFor('team/app', 'release-1')?.index, 0);
    assert.equal(rules.ruleFor('team/app', 'release-10'), undefined);
    assert.equal(rules.ruleFor('team/app', 'dev-v1'), undefined);
    assert.equal(rules.ruleFor('teams/app', 'v1'), undefined);
    assert.equal(rules.ruleFor('team', 'v1'), undefined);
    assert.equal(rules.ruleFor('infra/base', 'stable')?.index, 1);
    assert.equal(rules.ruleFor('infra/baseX', 'stable'), undefined);
  });

  it('treats dots in patterns literally', () => {
    const dots = new ImmutableTags([{ repository: 'a.b', tags: ['1.0'] }]);
    assert.equal(dots.ruleFor('axb', '1.0'), undefined);
    assert.equal(dots.ruleFor('a.b', '1x0'), undefined);
    assert.ok(dots.ruleFor('a.b', '1.0'));
  });

  it('allows creating and re-pointing at the same digest, refuses moving and deleting with DENIED naming the rule', () => {
    rules.assertMayChange('team/app', { tag: 'v1', current: null, next: 'sha256:a' }, 'moved');
    rules.assertMayChange('team/app', { tag: 'v1', current: 'sha256:a', next: 'sha256:a' }, 'moved');
    rules.assertMayChange('team/app', { tag: 'dev', current: 'sha256:a', next: 'sha256:b' }, 'moved');
    assert.throws(
      () => rules.assertMayChange('team/app', { tag: 'v1', current: 'sha256:a', next: null }, 'deleted'),
      (err: unknown) => err instanceof RegistryError && err.code === 'DENIED' && /BERTH_IMMUTABLE_TAGS rule #1 \(repository "team\/\*", tags "v\*", "release-\?"\)\): it cannot be deleted/.test(err.message),
    );
    assert.throws(
      () => rules.assertMayChange('infra/base', { tag: 'stable', current: 'sha256:a', next: 'sha256:b' }, 'rolled back'),
      (err: unknown) => err instanceof RegistryError && /rule "base images"/.test(err.message),
    );
  });
});
