import type { PubSub } from '@graphql-yoga/subscription';
import type { Database } from '@tally/db';
import { AuthService } from './modules/auth/auth.service.js';
import { SettingsService } from './modules/settings/settings.service.js';
import type { Topics } from './pubsub.js';

/** Stateless services shared by all requests of one process. */
export interface Services {
  auth: AuthService;
  settings: SettingsService;
}

export function createServices(db: Database, pubSub: PubSub<Topics>): Services {
  return {
    auth: new AuthService(db.dataSource),
    settings: new SettingsService(db.dataSource, pubSub),
  };
}
