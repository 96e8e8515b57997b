import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Drops the foreign keys from the minute and day counters to sources, as 1764200000000 did for
 * payment_events (which kept the counters' keys: a store-only script then showed no difference,
 * at ≈ 136 new minute rows a batch). Each new counter row cost PostgreSQL a referential check
 * (≈ 3.7 µs: 200,000 minute rows took 1.26–1.31 s with it, 0.53–0.58 s without), and a batch of
 * 5,000 events spread over a few minutes makes ≈ 480 new minute rows: ≈ 0.35 µs an event, a
 * tenth of PostgreSQL's work per ingested event (docs/benchmarks.md). The check guards a case
 * that cannot happen: counters are only written for a source the request authenticated (or the
 * import named and found), and sources are never deleted.
 */
export class PaymentCountersWithoutSourceFk1764400000000 implements MigrationInterface {
  name = 'PaymentCountersWithoutSourceFk1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE payment_counts_minute DROP CONSTRAINT payment_counts_minute_source_id_fkey`);
    await q.query(`ALTER TABLE payment_counts_day DROP CONSTRAINT payment_counts_day_source_id_fkey`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE payment_counts_minute ADD CONSTRAINT payment_counts_minute_source_id_fkey FOREIGN KEY (source_id) REFERENCES sources(id)`);
    await q.query(`ALTER TABLE payment_counts_day ADD CONSTRAINT payment_counts_day_source_id_fkey FOREIGN KEY (source_id) REFERENCES sources(id)`);
  }
}
