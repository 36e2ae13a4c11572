// Scopes as clients send them, and the access a token gets: the intersection of what was asked
// and what the permission rows allow.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { actionsOn, grantsOf, isValidPattern, patternMatches } from '../../../src/auth/permissions.js';
import { covers, formatScope, intersect, parseScope, parseScopes, ScopeError } from '../../../src/auth/scopes.js';
import type { PermissionRow } from '../../../src/db/permissions.js';

const row = (pattern: string, actions: string[], account: string | null = 'alice'): PermissionRow => ({ id: 1, account, pattern, actions });

describe('parseScope', () => {
  it('reads type, name and actions', () => {
    assert.deepEqual(parseScope('repository:team/app:pull,push'), { type: 'repository', name: 'team/app', actions: ['pull', 'push'] });
    assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
  });

  it('keeps a host:port inside the name (splits at the first and last colon)', () => {
    assert.deepEqual(parseScope('repository:localhost:5000/team/app:pull'), { type: 'repository', name: 'localhost:5000/team/app', actions: ['pull'] });
  });

  it('ignores the deprecated resource class and repeated actions', () => {
    assert.deepEqual(parseScope('repository(plugin):team/app:pull,pull'), { type: 'repository', name: 'team/app', actions: ['pull'] });
  });

  for (const bad of ['', 'repository', 'repository:team/app', 'repository:team/app:', ':team/app:pull', 'repository::pull', 'repository:a:PULL', 'repository:a:pull,,push', 'Repo Sitory:a:pull']) {
    it(`refuses ${JSON.stringify(bad)} with a ScopeError`, () => {
      assert.throws(() => parseScope(bad), ScopeError);
    });
  }
});

describe('parseScopes', () => {
  it('takes repeated values and space-separated scopes in one value, merging actions per resource', () => {
    const scopes = parseScopes(['repository:a:pull', 'repository:b:pull repository:a:push', '']);
    assert.deepEqual(scopes, [
      { type: 'repository', name: 'a', actions: ['pull', 'push'] },
      { type: 'repository', name: 'b', actions: ['pull'] },
    ]);
    assert.equal(formatScope(scopes[0]!), 'repository:a:pull,push');
  });
});

describe('permission patterns', () => {
  it('matches an exact name, a prefix/* below the prefix only, and * everything', () => {
    assert.ok(patternMatches('team/app', 'team/app'));
    assert.ok(!patternMatches('team/app', 'team/app2'));
    assert.ok(patternMatches('team/*', 'team/app'));
    assert.ok(patternMatches('team/*', 'team/sub/app'));
    assert.ok(!patternMatches('team/*', 'team'));
    assert.ok(!patternMatches('team/*', 'teamx/app'));
    assert.ok(patternMatches('*', 'anything/at/all'));
  });

  it('accepts names, name/* and *, nothing else', () => {
    for (const ok of ['team', 'team/app', 'team/*', '*']) assert.ok(isValidPattern(ok), ok);
    for (const bad of ['', 'Team/*', 'team/*/x', 'team*', '*/app', 'team/', '/*', '**']) assert.ok(!isValidPattern(bad), bad);
  });

  it('expands admin to every action and unions matching rows', () => {
    const rows = [row('team/*', ['pull']), row('team/app', ['push']), row('ops/*', ['admin'])];
    assert.deepEqual([...actionsOn(rows, 'team/app')].sort(), ['pull', 'push']);
    assert.deepEqual([...actionsOn(rows, 'team/other')], ['pull']);
    assert.deepEqual([...actionsOn(rows, 'ops/db')].sort(), ['admin', 'delete', 'pull', 'push']);
    assert.deepEqual([...actionsOn(rows, 'elsewhere')], []);
  });
});

describe('intersect (the access a token gets)', () => {
  const grants = grantsOf(false, [row('team/*', ['pull', 'push']), row('public/*', ['pull'], null)]);

  it('grants only requested actions the account has, leaving out what it lacks', () => {
    const access = intersect(parseScopes(['repository:team/app:pull,push,delete', 'repository:public/base:pull,push', 'repository:private/x:pull']), grants);
    assert.deepEqual(access, [
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'public/base', actions: ['pull'] },
    ]);
  });

  it('reads * as every action', () => {
    assert.deepEqual(intersect(parseScopes(['repository:team/app:*']), grants), [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
  });

  it('never grants invalid repository names, unknown resource types or the catalog to a non-admin', () => {
    assert.deepEqual(intersect(parseScopes(['repository:Team/App:pull', 'repository:team/../x:pull', 'plugin:team/app:pull', 'registry:catalog:*']), grants), []);
  });

  it('gives an administrator everything asked for, the catalog included', () => {
    const admin = grantsOf(true, []);
    assert.deepEqual(intersect(parseScopes(['repository:any/repo:pull,push,delete', 'registry:catalog:*']), admin), [
      { type: 'repository', name: 'any/repo', actions: ['pull', 'push', 'delete'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
  });
});

describe('covers (does a token allow a request)', () => {
  const access = [{ type: 'repository', name: 'team/a', actions: ['pull', 'push'] }];

  it('needs every action on that exact repository', () => {
    assert.ok(covers(access, 'repository', 'team/a', ['pull', 'push']));
    assert.ok(!covers(access, 'repository', 'team/a', ['delete']));
  });

  it('does not carry a token for repository A over to repository B', () => {
    assert.ok(!covers(access, 'repository', 'team/b', ['pull']));
    assert.ok(!covers(access, 'repository', 'team/a/b', ['pull']));
    assert.ok(!covers(access, 'registry', 'team/a', ['pull']));
  });
});
