import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Sources with hashed ingest keys; raw payment events (kept for deduplication by
 * (source, id)); additive counters by minute and by local day (never ratios); failure-code
 * attribution applied at read time; per-source ingest statistics by hour.
 */
export class Payments1764100000000 implements MigrationInterface {
  name = 'Payments1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE settings
      ADD COLUMN low_volume_threshold integer NOT NULL DEFAULT 100 CHECK (low_volume_threshold >= 0),
      ADD COLUMN late_horizon_days integer NOT NULL DEFAULT 35 CHECK (late_horizon_days BETWEEN 1 AND 3660)`);

    await q.query(`
      CREATE TABLE sources (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
        kind text NOT NULL CHECK (kind IN ('PAYMENT_EVENTS')),
        created_at timestamptz NOT NULL DEFAULT now(),
        last_event_at timestamptz,
        last_received_at timestamptz
      )`);
    await q.query(`
      CREATE TABLE source_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        source_id uuid NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
        key_hash text NOT NULL UNIQUE,
        key_prefix text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      )`);
    await q.query(`CREATE INDEX source_keys_source_idx ON source_keys (source_id)`);

    // NULL failure_code means SUCCEEDED. The primary key is the deduplication key.
    await q.query(`
      CREATE TABLE payment_events (
        source_id uuid NOT NULL REFERENCES sources(id),
        event_id text NOT NULL,
        occurred_at timestamptz NOT NULL,
        direction text NOT NULL,
        channel text NOT NULL,
        failure_code text,
        amount_minor bigint,
        currency text,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (source_id, event_id)
      )`);

    // '' is the success row of a bucket: a primary key column cannot be NULL.
    await q.query(`
      CREATE TABLE payment_counts_minute (
        direction text NOT NULL,
        bucket timestamptz NOT NULL,
        channel text NOT NULL,
        failure_code text NOT NULL,
        source_id uuid NOT NULL REFERENCES sources(id),
        events bigint NOT NULL,
        last_occurred_at timestamptz NOT NULL,
        PRIMARY KEY (direction, bucket, channel, failure_code, source_id)
      )`);
    // Local days of the organisation's time zone; rebuilt from the minute table when it changes.
    await q.query(`
      CREATE TABLE payment_counts_day (
        direction text NOT NULL,
        local_date date NOT NULL,
        channel text NOT NULL,
        failure_code text NOT NULL,
        source_id uuid NOT NULL REFERENCES sources(id),
        events bigint NOT NULL,
        last_occurred_at timestamptz NOT NULL,
        PRIMARY KEY (direction, local_date, channel, failure_code, source_id)
      )`);

    await q.query(`
      CREATE TABLE failure_codes (
        code text PRIMARY KEY,
        attribution text NOT NULL DEFAULT 'UNCLASSIFIED' CHECK (attribution IN ('USER', 'SYSTEM', 'UNCLASSIFIED')),
        description text,
        first_seen_at timestamptz,
        last_seen_at timestamptz,
        events bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);

    await q.query(`
      CREATE TABLE source_ingest_stats (
        source_id uuid NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
        hour timestamptz NOT NULL,
        accepted bigint NOT NULL DEFAULT 0,
        duplicates bigint NOT NULL DEFAULT 0,
        rejected bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (source_id, hour)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE source_ingest_stats`);
    await q.query(`DROP TABLE failure_codes`);
    await q.query(`DROP TABLE payment_counts_day`);
    await q.query(`DROP TABLE payment_counts_minute`);
    await q.query(`DROP TABLE payment_events`);
    await q.query(`DROP TABLE source_keys`);
    await q.query(`DROP TABLE sources`);
    await q.query(`ALTER TABLE settings DROP COLUMN late_horizon_days, DROP COLUMN low_volume_threshold`);
  }
}
