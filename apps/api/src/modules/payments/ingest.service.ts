import pLimit from 'p-limit';
import { TurnTaking } from './turn-taking.js';
import type { Logger } from 'pino';
import { countPaymentEvents, findPaymentEvents, insertNewPaymentEvents, insertNewPaymentEventsInTransaction, insertPaymentEvents, recordIngestOutcome, SettingsEntity, takesBulkCopy, type Database, type Direction, type PaymentEventRow } from '@tally/db';
import type { ChangeBus } from '../../changes/change-bus.js';
import { ServiceUnavailableError } from '../../errors/app-errors.js';
import { differingField, validatePaymentOutcome, type IngestRejection } from './payment-outcome.validation.js';

/** One item of a request: a decoded JSON value, or a line that did not parse. */
export type RawItem = { line: number; value: unknown } | { line: number; malformed: string };

export interface IngestResult {
  accepted: number;
  duplicates: number;
  /** The first MAX_LISTED_REJECTIONS rejections, in line order. */
  rejected: IngestRejection[];
  /** Every rejected line, listed or not. */
  rejectedCount: number;
}

/**
 * Rejections listed in an answer; the rest are counted (`rejectedCount`). A 16 MiB body of
 * three-byte lines that are not events (5.6 million rejections) was answered with 407 MB of
 * JSON after 52 s, and one of lines that are not JSON with a 500 (V8's longest string is
 * shorter than its answer). 10,000 lists every line of any batch a client should send (the
 * file import keeps as many in memory for its summary).
 */
export const MAX_LISTED_REJECTIONS = 10_000;

export interface IngestOptions {
  /** File import backfills: no late-event horizon (deduplication still applies). */
  allowLate?: boolean;
  now?: Date;
  /** Rejections listed in the answer (default MAX_LISTED_REJECTIONS); the file import lists all of a batch. */
  listRejections?: number;
  /** The request body's size, when `input` decodes one: it tells a small request from a large one (see `validating`). */
  bodyBytes?: number;
}

const VALIDATION_SLICE = 500;
/** How long a large request validates before small requests queued behind it get through. */
const VALIDATION_TURN_MS = 50;
/** Small requests: an ordinary batch (5,000 events are ≈ 1 MiB of NDJSON), GraphQL's 1,000 events. */
const SMALL_BODY_BYTES = 2 * 1024 * 1024;
const SMALL_ITEMS = 10_000;

/**
 * A request's items, or a decoder of them (a request body) that hands each to `take` in order
 * and awaits `pause` between its pieces.
 */
export type IngestInput = readonly RawItem[] | ((take: (item: RawItem) => void, pause: () => Promise<void>) => Promise<void>);

interface Candidate {
  event: PaymentEventRow;
  line: number;
  /** Later lines of the request with the same id and content. */
  repeats?: number[];
  /** Later lines of the request with the same id and other content, each with its conflict against this line. */
  variants?: { line: number; event: PaymentEventRow; conflict: IngestRejection }[];
}

interface Prepared {
  candidates: Candidate[];
  /** The first lines that did not validate (as many as the answer lists). */
  rejected: IngestRejection[];
  /** Lines that did not validate, listed or not. */
  invalid: number;
  /** Every candidate's repeats: duplicates when the candidate is stored by this request. */
  repeats: number;
  /** Every candidate's variants as conflicts with the candidate's line: what they are when it is stored by this request. */
  variantConflicts: IngestRejection[];
}

const RETRYABLE = new Set(['40P01', '40001']); // deadlock, serialization failure

/** A transaction still deadlocked after its retries: SERVICE_UNAVAILABLE, HTTP 503 + Retry-After. */
export class IngestContendedError extends ServiceUnavailableError {
  constructor() {
    super('ingest is contended by concurrent requests for the same events; retry shortly');
  }
}

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
    /** The late-event horizon's source (SettingsService.get: cached in the process). */
    private readonly settings: () => Promise<Pick<SettingsEntity, 'lateHorizonDays'>> = () =>
      db.dataSource.getRepository(SettingsEntity).findOneByOrFail({ id: 1 }),
  ) {}

  /** Events of the source stored so far. */
  storedCount(sourceId: string): Promise<number> {
    return countPaymentEvents(this.db.dataSource.manager, sourceId);
  }

  /**
   * Ingests a request's items: `input` is the items, or a function that decodes them (a request
   * body) and hands each to the callback it is given, in order; it then runs in the validation
   * stage too, each item validated as soon as it is decoded (see IngestInput).
   *
   * Two stages, each with bounded concurrency in the process: decoding and validating (API CPU),
   * one request at a time (small ones may overtake a large one, see `validating`); storing (the
   * database), two at a time. Requests beyond that wait in order. Why: with four 5,000-event requests validated at once, all four bodies' objects stay
   * alive for four times as long (garbage collection grew to a fifth of the API's CPU) and four
   * COPYs into the same unique index contended in PostgreSQL; in a pipeline one request is
   * validated while the previous one is stored, and the API and the database each do less work
   * per event (docs/benchmarks.md).
   */
  async ingest(sourceId: string, input: IngestInput, opts: IngestOptions = {}): Promise<IngestResult> {
    const limit = opts.listRejections ?? MAX_LISTED_REJECTIONS;
    // Read before the validation stage: its turns count work, and a wait for the database is not.
    const horizonMs = opts.allowLate ? null : (await this.settings()).lateHorizonDays * 86_400_000;
    const small = typeof input === 'function' ? (opts.bodyBytes ?? Infinity) <= SMALL_BODY_BYTES : input.length <= SMALL_ITEMS;
    const prepared = await this.validating.run(small, (share) => this.prepare(input, opts, horizonMs, limit, share));
    return this.storing(() => this.store(sourceId, prepared, limit));
  }

  /**
   * The validation stage lets small requests overtake a large one: a large request that has
   * validated for longer than its turn (a 16 MiB body of items that are not events took 30 s)
   * lets the small requests queued behind it through before it goes on, instead of holding up
   * every source's ordinary batches in this process till it is done. Large requests still go
   * one after the other (see TurnTaking), so the pipeline and memory above are unchanged.
   */
  private readonly validating = new TurnTaking(VALIDATION_TURN_MS);
  // p-limit: a well-kept queue (FIFO, errors released) rather than one more hand-written here.
  private readonly storing = pLimit(2);

  /**
   * Validates and deduplicates within the request; lists the first `limit` rejections, counts all.
   * `pause` goes between pieces of work: other requests' transactions get the event loop, and
   * small requests a way past a large one (TurnTaking).
   */
  private async prepare(input: IngestInput, opts: IngestOptions, horizonMs: number | null, limit: number, pause: () => Promise<void>): Promise<Prepared> {
    const now = (opts.now ?? new Date()).getTime();
    const rules = { now, horizonMs };

    const rejected: IngestRejection[] = [];
    let invalid = 0;
    const reject = (r: IngestRejection) => {
      // Items come in line order: the ones kept are the first lines rejected.
      if (invalid++ < limit) rejected.push(r);
    };
    const valid: Candidate[] = [];
    const take = (item: RawItem) => {
      if ('malformed' in item) {
        reject({ line: item.line, code: 'malformed', reason: item.malformed });
        return;
      }
      const v = validatePaymentOutcome(item.value, item.line, rules);
      if (v.ok) valid.push({ event: v.event, line: item.line });
      else reject(v.rejection);
    };
    if (typeof input === 'function') {
      await input(take, pause);
    } else {
      for (let i = 0; i < input.length; i++) {
        if (i % VALIDATION_SLICE === VALIDATION_SLICE - 1) await pause();
        take(input[i]!);
      }
    }

    // Sorted by id: concurrent requests with overlapping ids then take their row locks in the
    // same order and wait for each other instead of deadlocking. Repeats of an id are found in
    // the sorted list, next to each other, rather than in a Map filled while validating: that Map
    // cost ≈ 0.45 µs an event (hashing 5,000 fresh strings into a growing table), the check for
    // an already sorted request (most providers' ids begin with a time) ≈ 0.02 µs, and a sort of
    // one that is not ≈ 0.1–0.25 µs (docs/benchmarks.md). The sort is stable, so the lines of
    // one id stay in order and the first is the one kept.
    let strictlyAscending = true;
    for (let i = 1; i < valid.length; i++) {
      if (valid[i - 1]!.event.id >= valid[i]!.event.id) {
        strictlyAscending = false;
        break;
      }
    }
    if (strictlyAscending) return { candidates: valid, rejected, invalid, repeats: 0, variantConflicts: [] };
    valid.sort((a, b) => (a.event.id < b.event.id ? -1 : a.event.id > b.event.id ? 1 : 0));
    const candidates: Candidate[] = [];
    const variantConflicts: IngestRejection[] = [];
    let repeats = 0;
    for (let i = 0; i < valid.length; ) {
      const first = valid[i]!;
      candidates.push(first);
      let j = i + 1;
      for (; j < valid.length && valid[j]!.event.id === first.event.id; j++) {
        const { event, line } = valid[j]!;
        const field = differingField(first.event, event);
        if (field === null) {
          repeats++;
          (first.repeats ??= []).push(line);
        } else {
          const conflict = inRequestConflict(first, line, field);
          (first.variants ??= []).push({ line, event, conflict });
          variantConflicts.push(conflict);
        }
      }
      i = j;
    }
    return { candidates, rejected, invalid, repeats, variantConflicts };
  }

  /**
   * Stores the candidates (sorted by id) with their counters; tells duplicates from conflicts.
   * Every line of an id is judged against one version of it: the stored one when the id was
   * already ingested, else the request's first valid line of it.
   */
  private async store(sourceId: string, { candidates, rejected, invalid, repeats, variantConflicts }: Prepared, limit: number): Promise<IngestResult> {
    const events = candidates.map((c) => c.event);
    // Usual case: every id new. On PostgreSQL the events, their counters, this request's outcome
    // and the change notice commit together in a transaction of their own (insertNewPaymentEvents).
    const all = changeNotice(events);
    const allNew = { duplicates: repeats, rejected: invalid + variantConflicts.length };
    const fast = await retrying(this.log, () => insertNewPaymentEvents(this.db, sourceId, events, allNew, all && this.changes.notification(all)));
    if (fast) {
      if (all) this.changes.afterCommit(all);
      return { accepted: events.length, duplicates: repeats, ...listed(rejected, invalid, variantConflicts, limit) };
    }

    const outcome = await retrying(this.log, () =>
      this.db.dataSource.transaction(async (m) => {
        // The embedded database's fast path, under a savepoint of this transaction.
        const embedded = !takesBulkCopy(this.db);
        const notify = all && embedded ? () => this.changes.notifyInTransaction(m, all) : undefined;
        if (embedded && (await insertNewPaymentEventsInTransaction(m, sourceId, events, allNew, notify))) {
          return { accepted: events.length, duplicates: repeats, conflicts: variantConflicts, notice: all };
        }
        const inserted = await insertPaymentEvents(m, sourceId, events);
        const rest = inserted.size === candidates.length ? [] : candidates.filter((c) => !inserted.has(c.event.id));
        const stored = await findPaymentEvents(m, sourceId, rest.map((c) => c.event.id));
        let duplicates = 0;
        const conflicts: IngestRejection[] = [];
        for (const c of candidates) {
          if (inserted.has(c.event.id)) {
            // Stored now from its first line: the repeats are duplicates, the variants conflict with it.
            duplicates += c.repeats?.length ?? 0;
            for (const v of c.variants ?? []) conflicts.push(v.conflict);
            continue;
          }
          // Already ingested (or, in a race, stored by another request in a way not found): each line against the stored version.
          const s = stored.get(c.event.id);
          const judge = (line: number, event: PaymentEventRow) => {
            const field = s ? differingField(s, event) : 'id';
            if (field === null) duplicates++;
            else {
              const reason = s ? `id "${c.event.id}" was already ingested with another ${field}` : `id "${c.event.id}" was already ingested with different content`;
              conflicts.push({ line, id: c.event.id, field, code: 'conflict', reason });
            }
          };
          judge(c.line, c.event);
          for (const line of c.repeats ?? []) judge(line, c.event);
          for (const v of c.variants ?? []) judge(v.line, v.event);
        }
        const acc = inserted.size === events.length ? events : events.filter((e) => inserted.has(e.id));
        let last: Date | null = null;
        for (const e of acc) if (!last || e.occurredAt.getTime() > last.getTime()) last = e.occurredAt;
        await recordIngestOutcome(m, sourceId, { accepted: acc.length, duplicates, rejected: invalid + conflicts.length, lastEventAt: last });
        const notice = changeNotice(acc);
        if (notice) await this.changes.notifyInTransaction(m, notice);
        return { accepted: acc.length, duplicates, conflicts, notice };
      }),
    );
    if (outcome.notice) this.changes.afterCommit(outcome.notice);
    return { accepted: outcome.accepted, duplicates: outcome.duplicates, ...listed(rejected, invalid, outcome.conflicts, limit) };
  }
}

/**
 * The answer's rejections: the first `limit` by line of the validation's and the store's, and
 * how many there are. `invalid` counts lines that did not validate; those listed are the first
 * `limit` of them, so any left out lies after all of those and cannot be among the first `limit`.
 */
function listed(invalidListed: IngestRejection[], invalid: number, conflicts: IngestRejection[], limit: number): Pick<IngestResult, 'rejected' | 'rejectedCount'> {
  const all = conflicts.length ? [...invalidListed, ...conflicts].sort((a, b) => a.line - b.line) : invalidListed;
  return { rejected: all.length > limit ? all.slice(0, limit) : all, rejectedCount: invalid + conflicts.length };
}

/** A later line of the request whose id is on `first`'s line with other content. */
function inRequestConflict(first: Candidate, line: number, field: string): IngestRejection {
  const id = first.event.id;
  return { line, id, field, code: 'conflict', reason: `id "${id}" appears on line ${first.line} of this request with another ${field}` };
}

/** Deadlocks and serialization failures roll back whole; running the transaction again is safe. */
async function retrying<T>(log: Logger, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { driverError?: { code?: string }; code?: string }).driverError?.code ?? (err as { code?: string }).code;
      if (!code || !RETRYABLE.has(code)) throw err;
      // Still contended after four tries: the client retries later (503 + Retry-After).
      if (attempt >= 4) throw new IngestContendedError();
      log.warn({ attempt, code }, 'ingest transaction retried');
    }
  }
}

function changeNotice(events: readonly PaymentEventRow[]) {
  if (events.length === 0) return null;
  let min = events[0]!.occurredAt.getTime();
  let max = min;
  const directions = new Set<Direction>();
  for (const e of events) {
    const t = e.occurredAt.getTime();
    if (t < min) min = t;
    if (t > max) max = t;
    directions.add(e.direction);
  }
  return { topic: 'payments' as const, directions: [...directions], from: new Date(min).toISOString(), to: new Date(max).toISOString() };
}
