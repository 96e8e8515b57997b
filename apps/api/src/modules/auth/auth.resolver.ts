import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import type { Context } from '../../context.js';
import { ConflictError } from '../../errors/app-errors.js';
import { Role } from './role.js';
import { ApiToken, CreateApiTokenInput, CreatedApiToken, Me } from './auth.types.js';

@Resolver()
export class AuthResolver {
  @Authorized(Role.VIEWER)
  @Query(() => Me, { description: 'The caller.' })
  me(@Ctx() ctx: Context): Me {
    const p = ctx.principal!;
    return { tokenId: p.tokenId, name: p.name, role: p.role };
  }

  @Authorized(Role.ADMIN)
  @Query(() => [ApiToken])
  apiTokens(@Ctx() ctx: Context): Promise<ApiToken[]> {
    return ctx.services.auth.list() as Promise<ApiToken[]>;
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => CreatedApiToken)
  async createApiToken(@Arg('input') input: CreateApiTokenInput, @Ctx() ctx: Context): Promise<CreatedApiToken> {
    const { token, secret } = await ctx.services.auth.createToken(input, ctx.principal!.tokenId);
    ctx.log.info({ tokenId: token.id, role: token.role }, 'api token created');
    return { token: token as ApiToken, secret };
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => ApiToken, { description: 'Revokes a token at once; revoking twice is harmless.' })
  async revokeApiToken(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<ApiToken> {
    const token = await ctx.loaders.apiTokenById.load(id);
    if (token.role === Role.ADMIN && !token.revokedAt && (await ctx.services.auth.activeAdmins()) <= 1) {
      throw new ConflictError('cannot revoke the last active ADMIN token: create another ADMIN token first');
    }
    const revoked = await ctx.services.auth.revoke(id);
    ctx.log.info({ tokenId: id }, 'api token revoked');
    return revoked as ApiToken;
  }
}
