import DataLoader from 'dataloader';
import { In } from 'typeorm';
import { ApiTokenEntity, FailureCodeEntity, type SettingsEntity, type Database } from '@tally/db';
import { NotFoundError } from './errors/app-errors.js';
import { PointBudget } from './graphql/request-limits.js';
import type { Direction } from '@tally/db';
import type { Attribution, Granularity } from '@tally/domain';
import type { SeriesPoint, WindowFigures } from './modules/payments/payment-metrics.service.js';
import { readContext } from './modules/payments/read-context.js';
import type { Services } from './services.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * One batch function per key, results in key order, an Error for a miss (the DataLoader
 * contract). Created per request so a cached row never outlives one answer.
 */
export function createLoaders(db: Database, services: Pick<Services, 'sources' | 'paymentMetrics' | 'settings' | 'failureCodes'>) {
  const ds = db.dataSource;
  const loaders = {
    /** Series points answered so far (not a loader: per-request state that lives as long as they do). */
    pointBudget: new PointBudget(),
    /** The organisation's settings row, one read per request (from the process's cache, see SettingsService). */
    settings: new DataLoader<1, Readonly<SettingsEntity>>(async (keys) => {
      const row = await services.settings.get();
      return keys.map(() => row);
    }),
    /** Failure-code attributions, one read per request (from the process's cache, see FailureCodesService). */
    attributions: new DataLoader<1, ReadonlyMap<string, Attribution>>(async (keys) => {
      const map = await services.failureCodes.attributions();
      return keys.map(() => map);
    }),
    /** The whole failure-code catalog (small), for attribution at read time. */
    failureCodes: new DataLoader<1, Map<string, FailureCodeEntity>>(async (keys) => {
      const rows = await ds.getRepository(FailureCodeEntity).find({ order: { code: 'ASC' } });
      const map = new Map(rows.map((r) => [r.code, r]));
      return keys.map(() => map);
    }),
    apiTokenById: new DataLoader<string, ApiTokenEntity>(async (ids) => {
      const valid = ids.filter((id) => UUID.test(id));
      const rows = valid.length ? await ds.getRepository(ApiTokenEntity).findBy({ id: In(valid) }) : [];
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => byId.get(id) ?? new NotFoundError('API token', id));
    }),
    /** Last-24-hour ingest activity of sources: one query for the whole list. */
    sourceActivity: new DataLoader<string, { accepted: number; duplicates: number; rejected: number }>(async (ids) => {
      const rows = await services.sources.activity(ids);
      return ids.map((id) => rows.get(id) ?? { accepted: 0, duplicates: 0, rejected: 0 });
    }),
    /**
     * Payment figures of a window per direction (and channel, or all), shared by every metric of
     * that direction and every `paymentSuccess` of the request asking for the same window.
     */
    paymentFigures: new DataLoader<{ direction: Direction; from: Date; to: Date; channel?: string | null }, WindowFigures, string>(
      async (keys) => {
        const rc = await readContext({ loaders: loaders as Loaders });
        return Promise.all(
          keys.map((k) => services.paymentMetrics.figures(k.direction, { startsAt: k.from, endsAt: k.to }, k.channel ?? null, rc).catch((e: Error) => e)),
        );
      },
      // JSON keeps a channel named "x|y" from colliding with another key.
      { cacheKeyFn: (k) => JSON.stringify([k.direction, k.from.getTime(), k.to.getTime(), k.channel ?? null]) },
    ),
    /**
     * A payment series (not by channel) per direction, window and granularity, shared by every
     * metric of that direction: the pay-in rate and attempts cost one read, whatever the number
     * of metrics (or aliases) asking. One service call per distinct key; an Error per failed key.
     */
    paymentSeries: new DataLoader<{ direction: Direction; from: Date; to: Date; granularity: Granularity }, SeriesPoint[], string>(
      async (keys) => {
        const rc = await readContext({ loaders: loaders as Loaders });
        return Promise.all(
          keys.map((k) => services.paymentMetrics.series(k.direction, { startsAt: k.from, endsAt: k.to }, k.granularity, false, rc).catch((e: Error) => e)),
        );
      },
      { cacheKeyFn: (k) => `${k.direction}|${k.from.toISOString()}|${k.to.toISOString()}|${k.granularity}` },
    ),
  };
  return loaders;
}

export type Loaders = ReturnType<typeof createLoaders>;
