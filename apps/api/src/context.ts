import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Database } from '@tally/db';
import type { Loaders } from './loaders.js';
import type { Principal } from './modules/auth/auth.service.js';
import type { Services } from './services.js';

/** What every resolver receives. Built per HTTP request, and per subscription event for loaders. */
export interface Context {
  requestId: string;
  principal: Principal | null;
  /** Why authentication failed, when a credential was sent but not accepted. */
  authFailure?: string;
  /** Fresh per request (and per subscription event): caches never outlive one answer. */
  loaders: Loaders;
  services: Services;
  db: Database;
  config: Config;
  log: Logger;
}
