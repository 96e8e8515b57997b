import { Arg, Authorized, Ctx, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { Context } from '../../context.js';
import { Role } from '../auth/role.js';
import { Settings, UpdateSettingsInput } from './settings.types.js';

@Resolver(() => Settings)
export class SettingsResolver {
  @Authorized(Role.VIEWER)
  @Query(() => Settings)
  settings(@Ctx() ctx: Context): Promise<Settings> {
    return ctx.loaders.settings.load(1) as Promise<Settings>;
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => Settings, { description: 'Changes the organisation settings; an unknown time zone or locale is BAD_USER_INPUT naming the field.' })
  updateSettings(@Arg('input') input: UpdateSettingsInput, @Ctx() ctx: Context): Promise<Settings> {
    return ctx.services.settings.update(input) as Promise<Settings>;
  }

  @Authorized(Role.VIEWER)
  @Subscription(() => Settings, {
    topics: 'SETTINGS_UPDATED',
    description: 'The settings, each time they change (the reporting calendar moves every figure).',
  })
  settingsUpdated(@Root() _event: { at: Date }, @Ctx() ctx: Context): Promise<Settings> {
    return ctx.loaders.settings.load(1) as Promise<Settings>;
  }
}
