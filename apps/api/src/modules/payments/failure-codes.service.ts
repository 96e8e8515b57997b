import type { DataSource } from 'typeorm';
import { classifyFailureCodes, FailureCodeEntity, type AttributionName } from '@tally/db';
import { BadInputError } from '../../errors/app-errors.js';
import type { Attribution } from '@tally/domain';
import type { ChangeBus } from '../../changes/change-bus.js';
import { ProcessCache } from '../../changes/process-cache.js';

export interface Classification {
  code: string;
  attribution: AttributionName;
  description?: string | null;
}

export class FailureCodesService {
  /**
   * Code → attribution, for every figure read. Only a classification changes it (a code first
   * seen at ingest is UNCLASSIFIED, as is a code missing here), and a classification clears it
   * in every process (see ProcessCache).
   */
  private readonly attributionCache = new ProcessCache<1, ReadonlyMap<string, Attribution>>({ maxAgeMs: 30_000, maxEntries: 1 });

  constructor(
    private readonly ds: DataSource,
    private readonly changes: ChangeBus,
  ) {
    changes.clearsOnChange(this.attributionCache);
  }

  /** The attribution of every classified code (a code not in the map is UNCLASSIFIED). */
  attributions(): Promise<ReadonlyMap<string, Attribution>> {
    return this.attributionCache.get(1, async () => {
      const rows: { code: string; attribution: Attribution }[] = await this.ds.query(`SELECT code, attribution FROM failure_codes WHERE attribution <> 'UNCLASSIFIED'`);
      return new Map(rows.map((r) => [r.code, r.attribution]));
    });
  }

  list(): Promise<FailureCodeEntity[]> {
    return this.ds.getRepository(FailureCodeEntity).find({ order: { code: 'ASC' } });
  }

  /**
   * Sets who is accountable for codes (also codes not seen yet). Past weeks change too: minute
   * reads attribute when they read, and the day totals by class of every day with a changed
   * code are recomputed in the same transaction; subscribers are told to recompute.
   */
  async classify(input: readonly Classification[]): Promise<FailureCodeEntity[]> {
    input.forEach((c, i) => {
      if (typeof c.code !== 'string' || c.code.length < 1 || c.code.length > 64) throw new BadInputError(`input[${i}].code`, 'must be 1 to 64 characters');
      if (c.description && c.description.length > 500) throw new BadInputError(`input[${i}].description`, 'must be at most 500 characters');
    });
    const codes = await this.ds.transaction(async (m) => {
      await classifyFailureCodes(m, input);
      await this.changes.notifyInTransaction(m, { topic: 'resync' });
      return m.getRepository(FailureCodeEntity).find({ where: input.map((c) => ({ code: c.code })), order: { code: 'ASC' } });
    });
    this.attributionCache.clear();
    this.changes.afterCommit({ topic: 'resync' });
    return codes;
  }
}
