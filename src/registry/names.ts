// Repository names and tags, validated exactly by the distribution-spec grammar.
import { RegistryError } from '../errors/registry-error.js';

const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** Clients cap `<host>/<name>` at 255 characters; the name alone can be no longer. */
export const MAX_NAME_LENGTH = 255;

export function isValidName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME.test(name);
}

/** What a valid name is, in words: the grammar above, with what is wrong with this one when it is simple to say. */
export function nameInvalidMessage(name: string): string {
  const grammar =
    'a repository name is one or more components separated by "/", each of lowercase letters and digits, ' +
    `optionally joined by ".", "_", "__" or "-" (e.g. team/my-app), at most ${MAX_NAME_LENGTH} characters`;
  const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
  const why = name.length > MAX_NAME_LENGTH ? `it has ${name.length} characters` : /[A-Z]/.test(name) ? 'it has uppercase letters' : undefined;
  return `invalid repository name ${shown}${why ? ` (${why})` : ''}: ${grammar}`;
}

export function assertValidName(name: string): string {
  if (!isValidName(name)) {
    throw new RegistryError('NAME_INVALID', { message: nameInvalidMessage(name), detail: { name: name.slice(0, 300) } });
  }
  return name;
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}
