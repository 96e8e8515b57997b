import type { Logger } from 'pino';
import { findPaymentEvents, insertPaymentEvents, recordIngestOutcome, SettingsEntity, type Database, type Direction, type PaymentEventRow } from '@tally/db';
import type { ChangeBus } from '../../changes/change-bus.js';
import { sameContent, validatePaymentOutcome, type IngestRejection } from './payment-outcome.validation.js';

/** One item of a request: a decoded JSON value, or a line that did not parse. */
export type RawItem = { line: number; value: unknown } | { line: number; malformed: string };

export interface IngestResult {
  accepted: number;
  duplicates: number;
  rejected: IngestRejection[];
}

export interface IngestOptions {
  /** File import backfills: no late-event horizon (deduplication still applies). */
  allowLate?: boolean;
  now?: Date;
}

const RETRYABLE = new Set(['40P01', '40001']); // deadlock, serialization failure

/**
 * Validates, deduplicates and stores payment outcomes with their counters. The accepted
 * events of a call and every counter they change commit in one transaction; a bad event is
 * rejected alone with its reason. Same (source, id) and same content is a duplicate (counted
 * once, reported); different content is a conflict (rejected).
 */
export class PaymentIngestService {
  constructor(
    private readonly db: Database,
    private readonly changes: ChangeBus,
    private readonly log: Logger,
  ) {}

  async ingest(sourceId: string, items: readonly RawItem[], opts: IngestOptions = {}): Promise<IngestResult> {
    const now = (opts.now ?? new Date()).getTime();
    const settings = await this.db.dataSource.getRepository(SettingsEntity).findOneByOrFail({ id: 1 });
    const horizonMs = opts.allowLate ? null : settings.lateHorizonDays * 86_400_000;

    const rejected: IngestRejection[] = [];
    const firstById = new Map<string, { event: PaymentEventRow; line: number }>();
    let duplicates = 0;
    for (const item of items) {
      if ('malformed' in item) {
        rejected.push({ line: item.line, code: 'malformed', reason: item.malformed });
        continue;
      }
      const v = validatePaymentOutcome(item.value, item.line, { now, horizonMs });
      if (!v.ok) {
        rejected.push(v.rejection);
        continue;
      }
      const earlier = firstById.get(v.event.id);
      if (!earlier) firstById.set(v.event.id, { event: v.event, line: item.line });
      else if (sameContent(earlier.event, v.event)) duplicates++;
      else rejected.push({ line: item.line, id: v.event.id, code: 'conflict', reason: `id "${v.event.id}" appears on line ${earlier.line} of this request with different content` });
    }

    const candidates = [...firstById.values()];
    const events = candidates.map((c) => c.event);
    const conflicts: IngestRejection[] = [];
    const { accepted, storedDuplicates } = await retrying(this.log, () =>
      this.db.dataSource.transaction(async (m) => {
        const inserted = await insertPaymentEvents(m, sourceId, events);
        const rest = candidates.filter((c) => !inserted.has(c.event.id));
        const stored = await findPaymentEvents(m, sourceId, rest.map((c) => c.event.id));
        conflicts.length = 0;
        let dup = 0;
        for (const c of rest) {
          const s = stored.get(c.event.id);
          if (s && sameContent(s, c.event)) dup++;
          else conflicts.push({ line: c.line, id: c.event.id, code: 'conflict', reason: `id "${c.event.id}" was already ingested with different content` });
        }
        const acc = events.filter((e) => inserted.has(e.id));
        const lastEventAt = acc.reduce<Date | null>((max, e) => (!max || e.occurredAt > max ? e.occurredAt : max), null);
        await recordIngestOutcome(m, sourceId, {
          accepted: acc.length,
          duplicates: duplicates + dup,
          rejected: rejected.length + conflicts.length,
          lastEventAt,
        });
        const notice = changeNotice(acc);
        if (notice) await this.changes.notifyInTransaction(m, notice);
        return { accepted: acc, storedDuplicates: dup };
      }),
    );
    const notice = changeNotice(accepted);
    if (notice) this.changes.afterCommit(notice);
    return {
      accepted: accepted.length,
      duplicates: duplicates + storedDuplicates,
      rejected: [...rejected, ...conflicts].sort((a, b) => a.line - b.line),
    };
  }
}

/** Deadlocks and serialization failures roll back whole; running the transaction again is safe. */
async function retrying<T>(log: Logger, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { driverError?: { code?: string }; code?: string }).driverError?.code ?? (err as { code?: string }).code;
      if (attempt >= 4 || !code || !RETRYABLE.has(code)) throw err;
      log.warn({ attempt, code }, 'ingest transaction retried');
    }
  }
}

function changeNotice(events: readonly PaymentEventRow[]) {
  if (events.length === 0) return null;
  let min = events[0]!.occurredAt;
  let max = min;
  const directions = new Set<Direction>();
  for (const e of events) {
    if (e.occurredAt < min) min = e.occurredAt;
    if (e.occurredAt > max) max = e.occurredAt;
    directions.add(e.direction);
  }
  return { topic: 'payments' as const, directions: [...directions], from: min.toISOString(), to: max.toISOString() };
}
