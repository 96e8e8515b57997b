import type { PubSub } from '@graphql-yoga/subscription';
import type { Logger } from 'pino';
import type { Database } from '@tally/db';
import { ChangeBus } from './changes/change-bus.js';
import { AuthService } from './modules/auth/auth.service.js';
import { FailureCodesService } from './modules/payments/failure-codes.service.js';
import { PaymentIngestService } from './modules/payments/ingest.service.js';
import { PaymentMetricsService } from './modules/payments/payment-metrics.service.js';
import { SettingsService } from './modules/settings/settings.service.js';
import { SourcesService } from './modules/sources/sources.service.js';
import type { Topics } from './pubsub.js';

/** Stateless services shared by all requests of one process. */
export interface Services {
  auth: AuthService;
  settings: SettingsService;
  sources: SourcesService;
  paymentIngest: PaymentIngestService;
  paymentMetrics: PaymentMetricsService;
  failureCodes: FailureCodesService;
  changes: ChangeBus;
}

export function createServices(db: Database, pubSub: PubSub<Topics>, log: Logger): Services {
  const changes = new ChangeBus(db, log);
  const settings = new SettingsService(db.dataSource, pubSub, changes);
  return {
    auth: new AuthService(db.dataSource, changes),
    settings,
    sources: new SourcesService(db.dataSource, changes),
    paymentIngest: new PaymentIngestService(db, changes, log, () => settings.get()),
    paymentMetrics: new PaymentMetricsService(db),
    failureCodes: new FailureCodesService(db.dataSource, changes),
    changes,
  };
}
