import type { PubSub } from '@graphql-yoga/subscription';
import type { DataSource } from 'typeorm';
import { SettingsEntity } from '@tally/db';
import { LOCALES, assertCalendarSettings, type Locale } from '@tally/domain';
import { BadInputError } from '../../errors/app-errors.js';
import type { Topics } from '../../pubsub.js';
import type { UpdateSettingsInput } from './settings.types.js';

export class SettingsService {
  constructor(
    private readonly ds: DataSource,
    private readonly pubSub: PubSub<Topics>,
  ) {}

  get(): Promise<SettingsEntity> {
    return this.ds.getRepository(SettingsEntity).findOneByOrFail({ id: 1 });
  }

  /** Validates every field before writing any, so a bad request changes nothing. */
  async update(input: UpdateSettingsInput): Promise<SettingsEntity> {
    const repo = this.ds.getRepository(SettingsEntity);
    const current = await repo.findOneByOrFail({ id: 1 });
    const next = { ...current };
    if (input.timeZone !== undefined && input.timeZone !== null) next.timeZone = input.timeZone.trim();
    if (input.weekRule !== undefined && input.weekRule !== null) next.weekRule = input.weekRule;
    if (input.locale !== undefined && input.locale !== null) {
      if (!LOCALES.includes(input.locale as Locale)) {
        throw new BadInputError('locale', `unsupported locale "${input.locale}"; supported: ${LOCALES.join(', ')}`);
      }
      next.locale = input.locale as Locale;
    }
    assertCalendarSettings({ timeZone: next.timeZone, weekRule: next.weekRule });
    const saved = await repo.save(next);
    await this.pubSub.publish('SETTINGS_UPDATED', { at: saved.updatedAt });
    return saved;
  }
}
