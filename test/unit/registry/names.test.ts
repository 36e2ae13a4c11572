import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from '../../../src/errors/registry-error.js';
import { MAX_NAME_LENGTH, assertValidName, isValidName, isValidTag } from '../../../src/registry/names.js';

describe('repository name grammar (registry/names)', () => {
  const valid = [
    'a',
    '0',
    'library/ubuntu',
    'team/app',
    'a/b/c/d/e',
    'a.b',
    'a_b',
    'a__b',
    'a-b',
    'a--b',
    'a---b',
    'a.b-c_d__e/f',
    '0numeric/9',
    'x'.repeat(MAX_NAME_LENGTH),
    `${'a'.repeat(127)}/${'b'.repeat(127)}`,
  ];
  for (const name of valid) {
    it(`accepts ${name.length > 40 ? `a valid name of ${name.length} characters` : JSON.stringify(name)}`, () => {
      assert.ok(isValidName(name));
      assert.equal(assertValidName(name), name);
    });
  }

  const invalid = [
    '',
    'A',
    'Team/app',
    'team/App',
    '..',
    '../etc',
    'team/../etc',
    '.',
    'a/./b',
    'a//b',
    '/a',
    'a/',
    '-a',
    'a-',
    '.a',
    'a.',
    '_a',
    'a_',
    'a___b',
    'a..b',
    'a._b',
    'a-.b',
    'a_-b',
    '_catalog',
    'a/_catalog',
    'a b',
    'a\u0000b',
    'a:b',
    'a@b',
    'café',
    'x'.repeat(MAX_NAME_LENGTH + 1),
  ];
  for (const name of invalid) {
    it(`rejects ${name.length > 40 ? `a name of ${name.length} characters` : JSON.stringify(name)} with NAME_INVALID`, () => {
      assert.equal(isValidName(name), false);
      assert.throws(() => assertValidName(name), (err) => err instanceof RegistryError && err.code === 'NAME_INVALID' && err.status === 400);
    });
  }

  it('caps names at 255 characters', () => {
    assert.equal(MAX_NAME_LENGTH, 255);
  });
});

describe('tag grammar (registry/names)', () => {
  const valid = ['latest', 'v1.0.0', '1.0', '_', '_under', 'A', 'UPPER-lower_1.2', 'a-', 'a.', 'x'.repeat(128), `w${'.'.repeat(127)}`];
  for (const tag of valid) {
    it(`accepts ${tag.length > 40 ? `a tag of ${tag.length} characters` : JSON.stringify(tag)}`, () => {
      assert.ok(isValidTag(tag));
    });
  }

  const invalid = ['', '-bad', '.bad', 'x'.repeat(129), 'a/b', 'a:b', 'a b', 'a+b', 'a@b', 'tag\n', 'café', 'sha256:abc'];
  for (const tag of invalid) {
    it(`rejects ${tag.length > 40 ? `a tag of ${tag.length} characters` : JSON.stringify(tag)}`, () => {
      assert.equal(isValidTag(tag), false);
    });
  }
});
