import DataLoader from 'dataloader';
import { In } from 'typeorm';
import { ApiTokenEntity, SettingsEntity, type Database } from '@tally/db';
import { NotFoundError } from './errors/app-errors.js';

/**
 * One batch function per key, results in key order, an Error for a miss (the DataLoader
 * contract). Created per request so a cached row never outlives one answer.
 */
export function createLoaders(db: Database) {
  const ds = db.dataSource;
  return {
    /** The organisation's settings row; however many fields need it, one SELECT per request. */
    settings: new DataLoader<1, SettingsEntity>(async (keys) => {
      const row = await ds.getRepository(SettingsEntity).findOneByOrFail({ id: 1 });
      return keys.map(() => row);
    }),
    apiTokenById: new DataLoader<string, ApiTokenEntity>(async (ids) => {
      const valid = ids.filter((id) => UUID.test(id));
      const rows = valid.length ? await ds.getRepository(ApiTokenEntity).findBy({ id: In(valid) }) : [];
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => byId.get(id) ?? new NotFoundError('API token', id));
    }),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type Loaders = ReturnType<typeof createLoaders>;
