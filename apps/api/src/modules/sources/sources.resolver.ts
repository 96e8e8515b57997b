import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { Context } from '../../context.js';
import { Role } from '../auth/role.js';
import { CreateSourceInput, Source, SourceActivity, SourceWithKey } from './sources.types.js';

@Resolver(() => Source)
export class SourcesResolver {
  // Readable by every role: a dashboard shows how fresh its figures are, and an EDITOR needs a
  // source's id to ingest through GraphQL. A source carries no secret; managing them is ADMIN's.
  @Authorized(Role.VIEWER)
  @Query(() => [Source], { description: 'Every source, with its freshness and recent activity (VIEWER).' })
  sources(@Ctx() ctx: Context): Promise<Source[]> {
    return ctx.services.sources.list() as Promise<Source[]>;
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => SourceWithKey, { description: 'Registers a source; its ingest key is shown once.' })
  async createSource(@Arg('input') input: CreateSourceInput, @Ctx() ctx: Context): Promise<SourceWithKey> {
    const created = await ctx.services.sources.create(input);
    ctx.log.info({ sourceId: created.source.id, kind: input.kind }, 'source created');
    return created as SourceWithKey;
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => SourceWithKey, { description: 'Issues a new ingest key; the previous one stops working at once (403).' })
  async rotateSourceKey(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<SourceWithKey> {
    const rotated = await ctx.services.sources.rotateKey(id);
    ctx.log.info({ sourceId: id }, 'source key rotated');
    return rotated as SourceWithKey;
  }

  @FieldResolver(() => SourceActivity, { description: 'Events accepted, duplicate and rejected in the last 24 hours, counted by whole hours: the current hour and the 23 before it.' })
  async last24h(@Root() source: Source, @Ctx() ctx: Context): Promise<SourceActivity> {
    return ctx.loaders.sourceActivity.load(source.id);
  }

  @FieldResolver(() => Int, { nullable: true, description: 'Seconds since the latest accepted event occurred (null before the first).' })
  staleSeconds(@Root() source: Source): number | null {
    return source.lastEventAt ? Math.max(0, Math.floor((Date.now() - source.lastEventAt.getTime()) / 1000)) : null;
  }
}
