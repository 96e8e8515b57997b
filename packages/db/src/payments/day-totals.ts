import type { EntityManager } from 'typeorm';

// payment_totals_day holds, per (direction, local day, channel), the day counters summed by
// outcome class: what every day read needs, without the per-code rows, the join with the
// failure-code catalog and the regrouping (migration 1764300000000). It is derived data, kept
// equal to `DAY_TOTALS_OF_COUNTS` over payment_counts_day by three writers (and rebuilt on
// demand by `repairDayTotals`, for writers that did not keep it):
//
// - ingest adds each statement's day rows (`addDayTotals`, in the statement that adds them to
//   payment_counts_day), attributed as the catalog says in that statement's snapshot;
// - a classification recomputes the rows of the codes whose attribution it changes
//   (`recomputeDayTotalsOfCodes`), after `lockDayTotalsForClassification`;
// - a time-zone change rebuilds it with the day counters (`rebuildDayTotals`).
//
// Why the lock makes the first two agree: an ingest statement takes ROW EXCLUSIVE on the table
// when it starts, before its snapshot, and keeps it to its commit; SHARE ROW EXCLUSIVE waits for
// every such transaction and holds off new ones until the classification commits. So an ingest
// either commits before the classification recomputes (which then sees its counters), or reads
// the catalog after the classification committed (and attributes with the new classes).
//
// Lock order, so that no wait cycle forms through a classification waiting in the lock queue: a
// transaction takes its lock on this table before any other lock it holds to its end. The
// classification's lock is its first statement; a single-statement ingest takes it with the
// statement's other locks; a transaction that locks other rows first and writes the totals in a
// later statement — the COPY path (its events, then the counters) and a settings change (the
// settings row, then the rebuild) — takes it first with `lockDayTotalsForWriting`. Otherwise,
// for example, a COPY transaction holding a copied id that a general-path ingest waits for, and
// queued for the table behind a classification that waits for that ingest, would stall all
// three until PostgreSQL's deadlock check (deadlock_timeout, 1 s by default) reorders the queue.

/** Joins counter rows `c` with the catalog `f`; a success row ('') matches nothing. */
export const JOIN_CODES = `LEFT JOIN failure_codes f ON f.code = c.failure_code AND c.failure_code <> ''`;

/**
 * The four class sums of counter rows `c` (failure_code, events) joined by JOIN_CODES, named and
 * ordered as payment_totals_day's columns: a code missing from the catalog, or marked
 * UNCLASSIFIED, counts as unclassified.
 */
const CLASS_SUMS_OF_CODES = `coalesce(sum(c.events) FILTER (WHERE c.failure_code = ''), 0)::int8 AS succeeded,
       coalesce(sum(c.events) FILTER (WHERE f.attribution = 'USER'), 0)::int8 AS user_failures,
       coalesce(sum(c.events) FILTER (WHERE f.attribution = 'SYSTEM'), 0)::int8 AS system_failures,
       coalesce(sum(c.events) FILTER (WHERE c.failure_code <> '' AND coalesce(f.attribution, 'UNCLASSIFIED') = 'UNCLASSIFIED'), 0)::int8 AS unclassified_failures`;

const TOTALS_COLUMNS = 'direction, local_date, channel, succeeded, user_failures, system_failures, unclassified_failures, last_occurred_at';

/** payment_totals_day's rows as payment_counts_day and the catalog make them (optionally `WHERE` some of them). */
export const DAY_TOTALS_OF_COUNTS = (where = '') => `
  SELECT c.direction, c.local_date, c.channel, ${CLASS_SUMS_OF_CODES}, max(c.last_occurred_at) AS last_occurred_at
    FROM payment_counts_day c ${JOIN_CODES}
   ${where}
   GROUP BY 1, 2, 3`;

/**
 * An ingest statement's CTE body adding day rows to payment_totals_day: `rows` names a CTE of
 * (direction, local_date, channel, failure_code, events, last_occurred_at), the rows the same
 * statement adds to payment_counts_day. Keys in order, as the other counters: concurrent ingests
 * lock rows in the same order.
 */
export const addDayTotals = (rows: string) => `
  INSERT INTO payment_totals_day AS t (${TOTALS_COLUMNS})
  SELECT c.direction, c.local_date, c.channel, ${CLASS_SUMS_OF_CODES}, max(c.last_occurred_at)
    FROM ${rows} c ${JOIN_CODES}
   GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (direction, local_date, channel) DO UPDATE SET
    succeeded = t.succeeded + excluded.succeeded,
    user_failures = t.user_failures + excluded.user_failures,
    system_failures = t.system_failures + excluded.system_failures,
    unclassified_failures = t.unclassified_failures + excluded.unclassified_failures,
    last_occurred_at = greatest(t.last_occurred_at, excluded.last_occurred_at)`;

/**
 * The first statement of a transaction that changes attributions: waits for the ingest
 * transactions adding to the day totals and holds off new ones until it ends (see above).
 * Reads are not held up.
 */
export async function lockDayTotalsForClassification(m: EntityManager): Promise<void> {
  await m.query('LOCK TABLE payment_totals_day IN SHARE ROW EXCLUSIVE MODE');
}

/**
 * The first statement of a transaction that locks other rows before it writes the day totals
 * (see the lock order above). Compatible with every other writer but a classification, which
 * it waits for.
 */
export async function lockDayTotalsForWriting(m: EntityManager | { query: (sql: string) => Promise<unknown> }): Promise<void> {
  await m.query('LOCK TABLE payment_totals_day IN ROW EXCLUSIVE MODE');
}

/**
 * Recomputes the day totals of every (direction, day, channel) that has counters of `codes`
 * from the day counters and the catalog as they are now, in the caller's transaction (after
 * lockDayTotalsForClassification and the catalog change).
 */
export async function recomputeDayTotalsOfCodes(m: EntityManager, codes: readonly string[]): Promise<void> {
  if (codes.length === 0) return;
  const withCodes = `WHERE (c.direction, c.local_date, c.channel) IN (
       SELECT direction, local_date, channel FROM payment_counts_day WHERE failure_code <> '' AND failure_code = ANY($1::text[]))`;
  await m.query(
    `WITH fresh AS (${DAY_TOTALS_OF_COUNTS(withCodes)})
     UPDATE payment_totals_day t SET succeeded = fresh.succeeded, user_failures = fresh.user_failures,
            system_failures = fresh.system_failures, unclassified_failures = fresh.unclassified_failures
       FROM fresh WHERE t.direction = fresh.direction AND t.local_date = fresh.local_date AND t.channel = fresh.channel`,
    [codes],
  );
}

/** Rebuilds every day total from the day counters (after they were rebuilt for a new time zone). */
export async function rebuildDayTotals(m: EntityManager): Promise<void> {
  await m.query(`DELETE FROM payment_totals_day`);
  await m.query(`INSERT INTO payment_totals_day (${TOTALS_COLUMNS}) ${DAY_TOTALS_OF_COUNTS()}`);
}

/**
 * Checks the day totals against the day counters and the catalog and rebuilds them, in one
 * transaction that holds off ingest's additions (as a classification does), and says how many
 * (direction, day, channel) rows differed. For the cases the three writers cannot cover: API
 * processes of a release before the day totals still writing during a rolling upgrade, and a
 * hand-made UPDATE of the catalog (infra/README.md).
 */
export async function repairDayTotals(m: EntityManager): Promise<{ rows: number; differing: number }> {
  await lockDayTotalsForClassification(m);
  const fresh = `SELECT ${TOTALS_COLUMNS} FROM (${DAY_TOTALS_OF_COUNTS()}) AS d`;
  const stored = `SELECT ${TOTALS_COLUMNS} FROM payment_totals_day`;
  // A (direction, day, channel) counts once, whether it is missing, extra, or stored with other figures.
  const [diff] = (await m.query(
    `SELECT count(DISTINCT (direction, local_date, channel))::int AS n FROM ((${stored} EXCEPT ${fresh}) UNION ALL (${fresh} EXCEPT ${stored})) AS x`,
  )) as { n: number }[];
  await rebuildDayTotals(m);
  const [count] = (await m.query(`SELECT count(*)::int AS n FROM payment_totals_day`)) as { n: number }[];
  return { rows: count!.n, differing: diff!.n };
}

