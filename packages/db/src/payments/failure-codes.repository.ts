import type { EntityManager } from 'typeorm';
import type { AttributionName } from '../entities/failure-code.entity.js';
import { lockDayTotalsForClassification, recomputeDayTotalsOfCodes } from './day-totals.js';

export interface FailureCodeClassification {
  code: string;
  attribution: AttributionName;
  /** Kept as it is when null or missing. */
  description?: string | null;
}

/**
 * Sets who is accountable for failure codes (also codes not seen yet), in the caller's
 * transaction, and recomputes the day totals by class of every day and channel with a code
 * whose attribution changes. The one writer of attributions: an UPDATE of the catalog around it
 * would leave the day totals attributed the old way (day-totals.ts). When a code appears more
 * than once, the last classification holds.
 */
export async function classifyFailureCodes(m: EntityManager, input: readonly FailureCodeClassification[]): Promise<void> {
  if (input.length === 0) return;
  // First: ingest must not add to the day totals while they are recomputed (day-totals.ts).
  await lockDayTotalsForClassification(m);
  const codes = [...new Set(input.map((c) => c.code))];
  const rows: { code: string; attribution: AttributionName }[] = await m.query(`SELECT code, attribution FROM failure_codes WHERE code = ANY($1::text[])`, [codes]);
  const before = new Map(rows.map((r) => [r.code, r.attribution]));
  for (const c of input) {
    await m.query(
      `INSERT INTO failure_codes (code, attribution, description, updated_at) VALUES ($1, $2, $3, now())
       ON CONFLICT (code) DO UPDATE SET attribution = excluded.attribution,
         description = coalesce(excluded.description, failure_codes.description), updated_at = now()`,
      [c.code, c.attribution, c.description ?? null],
    );
  }
  const after = new Map(input.map((c) => [c.code, c.attribution]));
  await recomputeDayTotalsOfCodes(
    m,
    codes.filter((code) => (before.get(code) ?? 'UNCLASSIFIED') !== after.get(code)),
  );
}
