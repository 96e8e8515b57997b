import type { PubSub } from '@graphql-yoga/subscription';
import type { DataSource } from 'typeorm';
import { lockDayTotalsForWriting, rebuildDailyPaymentCounts, SettingsEntity } from '@tally/db';
import { LOCALES, assertCalendarSettings, type Locale } from '@tally/domain';
import { BadInputError } from '../../errors/app-errors.js';
import type { ChangeBus } from '../../changes/change-bus.js';
import { ProcessCache } from '../../changes/process-cache.js';
import type { Topics } from '../../pubsub.js';
import type { UpdateSettingsInput } from './settings.types.js';

export class SettingsService {
  /** The one settings row, read by nearly every request; an update clears it in every process (see ProcessCache). */
  private readonly cache = new ProcessCache<1, Readonly<SettingsEntity>>({ maxAgeMs: 30_000, maxEntries: 1 });

  constructor(
    private readonly ds: DataSource,
    private readonly pubSub: PubSub<Topics>,
    private readonly changes: ChangeBus,
  ) {
    changes.clearsOnChange(this.cache);
  }

  /** The current settings (shared: never mutate the row returned). */
  get(): Promise<Readonly<SettingsEntity>> {
    return this.cache.get(1, () => this.ds.getRepository(SettingsEntity).findOneByOrFail({ id: 1 }));
  }

  /**
   * Validates every field before writing any, so a bad request changes nothing. A new time
   * zone moves every local day: the day counters are rebuilt in the same transaction, with
   * the settings row locked so no ingest adds to days of the old zone meanwhile.
   */
  async update(input: UpdateSettingsInput): Promise<SettingsEntity> {
    const saved = await this.ds.transaction(async (m) => {
      // Before the settings row: a time-zone change rebuilds the day totals (lock order, day-totals.ts).
      await lockDayTotalsForWriting(m);
      const repo = m.getRepository(SettingsEntity);
      const current = await repo.findOneOrFail({ where: { id: 1 }, lock: { mode: 'pessimistic_write' } });
      const next = { ...current };
      if (input.timeZone != null) next.timeZone = input.timeZone.trim();
      if (input.weekRule != null) next.weekRule = input.weekRule;
      if (input.locale != null) {
        if (!LOCALES.includes(input.locale as Locale)) {
          throw new BadInputError('locale', `unsupported locale "${input.locale}"; supported: ${LOCALES.join(', ')}`);
        }
        next.locale = input.locale as Locale;
      }
      if (input.lowVolumeThreshold != null) {
        if (!Number.isInteger(input.lowVolumeThreshold) || input.lowVolumeThreshold < 0) throw new BadInputError('lowVolumeThreshold', 'must be a whole number ≥ 0');
        next.lowVolumeThreshold = input.lowVolumeThreshold;
      }
      if (input.lateHorizonDays != null) {
        if (!Number.isInteger(input.lateHorizonDays) || input.lateHorizonDays < 1 || input.lateHorizonDays > 3660) {
          throw new BadInputError('lateHorizonDays', 'must be a whole number of days between 1 and 3660');
        }
        next.lateHorizonDays = input.lateHorizonDays;
      }
      assertCalendarSettings({ timeZone: next.timeZone, weekRule: next.weekRule });
      const row = await repo.save(next);
      if (next.timeZone !== current.timeZone) await rebuildDailyPaymentCounts(m, next.timeZone);
      await this.changes.notifyInTransaction(m, { topic: 'resync' });
      return row;
    });
    this.cache.clear();
    this.changes.afterCommit({ topic: 'resync' });
    await this.pubSub.publish('SETTINGS_UPDATED', { at: saved.updatedAt });
    return saved;
  }
}
