import type { AuthCheckerInterface, ResolverData } from 'type-graphql';
import type { Context } from '../../context.js';
import { ForbiddenError, UnauthenticatedError } from '../../errors/app-errors.js';
import { satisfies, type Role } from './role.js';

/** Enforces `@Authorized(role)`: no principal is UNAUTHENTICATED, too weak a role is FORBIDDEN. */
export class RoleAuthChecker implements AuthCheckerInterface<Context, Role> {
  check({ context, info }: ResolverData<Context>, roles: Role[]): boolean {
    if (!context.principal) {
      throw new UnauthenticatedError(
        context.authFailure
          ? `authentication failed: ${context.authFailure}`
          : 'authentication required: send "Authorization: Bearer <token>"',
      );
    }
    if (!satisfies(context.principal.role, roles)) {
      throw new ForbiddenError(`${info.parentType.name}.${info.fieldName} requires role ${roles.join(' or ')}; this token has ${context.principal.role}`);
    }
    return true;
  }
}
