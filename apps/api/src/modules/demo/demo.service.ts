import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Services } from '../../services.js';
import { importPaymentOutcomes } from '../payments/import/payment-import.js';
import { DEMO_FAILURE_CODES, demoPaymentLines } from './demo-payments.js';

export const DEMO_SOURCE_NAME = 'demo-payments';

/**
 * Loads the demo quarter into an empty database — one with no source yet — through the file
 * import (the same parsing, validation, deduplication and counters as real data; the weeks
 * lie past the late-event horizon, which only the file import may backfill). Failure codes
 * are classified the way an editor would. Returns null when the database was not empty.
 */
export async function loadDemoIfEmpty(services: Services, log: Logger, onStart: () => void = () => {}): Promise<{ events: number; ms: number } | null> {
  if ((await services.sources.list()).length > 0) return null;
  onStart();
  const started = Date.now();
  const { source } = await services.sources.create({ name: DEMO_SOURCE_NAME, kind: 'PAYMENT_EVENTS' });
  await services.failureCodes.classify(DEMO_FAILURE_CODES.map((c) => ({ ...c })));
  const lines = demoPaymentLines();
  const input = Readable.from(
    (function* () {
      for (const l of lines) yield `${l}\n`;
    })(),
  );
  const summary = await importPaymentOutcomes(services.paymentIngest, source.id, input, { format: 'ndjson' });
  if (summary.rejected > 0) log.warn({ rejected: summary.rejected, first: summary.rejections.slice(0, 3) }, 'demo events rejected');
  return { events: summary.accepted, ms: Date.now() - started };
}
