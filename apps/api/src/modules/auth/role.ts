import { registerEnumType } from 'type-graphql';
import { ROLES, type RoleName } from '@tally/db';

/** What a token may do; each role includes the ones below it. */
export enum Role {
  VIEWER = 'VIEWER',
  EDITOR = 'EDITOR',
  ADMIN = 'ADMIN',
}

registerEnumType(Role, {
  name: 'Role',
  description: 'VIEWER reads and subscribes; EDITOR also writes data (payment outcomes through GraphQL, failure-code classifications); ADMIN also manages sources, tokens and settings.',
});

export function roleRank(role: RoleName | Role): number {
  return ROLES.indexOf(role as RoleName);
}

/** True when `have` is at least as powerful as the weakest of `required`. */
export function satisfies(have: Role, required: readonly Role[]): boolean {
  if (required.length === 0) return true;
  return roleRank(have) >= Math.min(...required.map(roleRank));
}
