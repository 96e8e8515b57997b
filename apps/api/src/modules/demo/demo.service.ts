import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Services } from '../../services.js';
import { importPaymentOutcomes } from '../payments/import/payment-import.js';
import { DEMO_EVENT_COUNT, DEMO_FAILURE_CODES, demoPaymentLines } from './demo-payments.js';

export const DEMO_SOURCE_NAME = 'demo-payments';

/**
 * Loads the demo quarter into an empty database — one with no source yet — through the file
 * import (the same parsing, validation, deduplication and counters as real data; the weeks
 * lie past the late-event horizon, which only the file import may backfill). Failure codes
 * are classified the way an editor would. A load cut short (the first start stopped half-way)
 * is resumed on the next start: the demo source is then the only one and holds fewer events
 * than the quarter, and importing the quarter again adds just the missing ones (the rest are
 * duplicates). Returns null when there was nothing to do.
 */
export async function loadDemoIfEmpty(
  services: Services,
  log: Logger,
  onStart: (resuming: boolean) => void = () => {},
): Promise<{ events: number; ms: number } | null> {
  const sources = await services.sources.list();
  const demo = sources.length === 1 && sources[0]!.name === DEMO_SOURCE_NAME ? sources[0]! : null;
  if (sources.length > 0 && !demo) return null;
  if (demo && (await services.paymentIngest.storedCount(demo.id)) >= DEMO_EVENT_COUNT) return null;
  onStart(demo !== null);
  const started = Date.now();
  const source = demo ?? (await services.sources.create({ name: DEMO_SOURCE_NAME, kind: 'PAYMENT_EVENTS' })).source;
  await services.failureCodes.classify(DEMO_FAILURE_CODES.map((c) => ({ ...c })));
  const lines = demoPaymentLines();
  const input = Readable.from(
    (function* () {
      for (const l of lines) yield `${l}\n`;
    })(),
  );
  const summary = await importPaymentOutcomes(services.paymentIngest, source.id, input, { format: 'ndjson' });
  if (summary.rejected > 0) log.warn({ rejected: summary.rejected, first: summary.rejections.slice(0, 3) }, 'demo events rejected');
  return { events: summary.accepted + summary.duplicates, ms: Date.now() - started };
}
