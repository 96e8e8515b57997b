import { Arg, Authorized, Ctx, FieldResolver, Query, Resolver, Root, Subscription } from 'type-graphql';
import { GraphQLError } from 'graphql';
import type { Context } from '../../context.js';
import { NotFoundError } from '../../errors/app-errors.js';
import { createLoaders } from '../../loaders.js';
import { Role } from '../auth/role.js';
import { Granularity } from '../payments/payments.types.js';
import { METRICS, findMetric, type MetricDefinition } from './metric-catalog.js';
import { metricUpdates } from './metric-updates.js';
import { Metric, MetricPeriod, MetricPoint, MetricUpdate, MetricValue } from './metrics.types.js';

@Resolver(() => Metric)
export class MetricsResolver {
  @Authorized(Role.VIEWER)
  @Query(() => [Metric], { description: 'The metric catalog.' })
  metrics(): MetricDefinition[] {
    return [...METRICS];
  }

  @Authorized(Role.VIEWER)
  @Query(() => Metric)
  metric(@Arg('key') key: string): MetricDefinition {
    const m = findMetric(key);
    if (!m) throw new NotFoundError('metric', key);
    return m;
  }

  @FieldResolver(() => MetricValue, { description: 'The figure over [from, to) (whole minutes).' })
  async value(@Root() m: MetricDefinition, @Arg('from', () => Date) from: Date, @Arg('to', () => Date) to: Date, @Ctx() ctx: Context): Promise<MetricValue> {
    const figures = await ctx.loaders.paymentFigures.load({ direction: m.direction, from, to });
    return { ...m.figure(figures), asOf: figures.asOf };
  }

  @FieldResolver(() => [MetricPoint], { description: 'The figure per calendar-aligned point.' })
  async series(
    @Root() m: MetricDefinition,
    @Arg('from', () => Date) from: Date,
    @Arg('to', () => Date) to: Date,
    @Arg('granularity', () => Granularity) granularity: Granularity,
    @Ctx() ctx: Context,
  ): Promise<MetricPoint[]> {
    const points = await ctx.loaders.paymentSeries.load({ direction: m.direction, from, to, granularity });
    ctx.loaders.pointBudget.spend(points.length);
    return points.map((p) => ({ from: p.from, to: p.to, ...m.figure(p) }));
  }

  @Authorized(Role.VIEWER)
  @Subscription(() => MetricUpdate, {
    description:
      'The current calendar period\'s value of each key right after subscribing, then a message whenever ingestion changes it (at most one a second per key) and when the period rolls over.',
    subscribe: ({ args, context }) => {
      const { keys, period } = args as { keys: string[]; period: MetricPeriod };
      const unknown = keys.filter((k) => !findMetric(k));
      if (keys.length === 0) throw new GraphQLError('keys: name at least one metric', { extensions: { code: 'BAD_USER_INPUT', field: 'keys' } });
      if (unknown.length) {
        throw new GraphQLError(`keys: unknown metric ${unknown.map((k) => `"${k}"`).join(', ')}`, { extensions: { code: 'BAD_USER_INPUT', field: 'keys' } });
      }
      const c = context as Context;
      return metricUpdates(
        { services: c.services, db: c.db, newContext: () => ({ ...c, loaders: createLoaders(c.db, c.services) }) },
        [...new Set(keys)],
        period,
        c.log,
      );
    },
  })
  metricUpdated(
    @Root() update: MetricUpdate,
    @Arg('keys', () => [String]) _keys: string[],
    @Arg('period', () => MetricPeriod, { defaultValue: MetricPeriod.DAY }) _period: MetricPeriod,
  ): MetricUpdate {
    return update;
  }
}
