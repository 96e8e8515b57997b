import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Foundation1764000000000 implements MigrationInterface {
  name = 'Foundation1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE api_tokens (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        role text NOT NULL CHECK (role IN ('VIEWER', 'EDITOR', 'ADMIN')),
        secret_hash text NOT NULL,
        secret_prefix text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by uuid REFERENCES api_tokens(id) ON DELETE SET NULL,
        last_used_at timestamptz,
        revoked_at timestamptz
      )`);
    await q.query(`CREATE UNIQUE INDEX api_tokens_secret_hash_key ON api_tokens (secret_hash)`);
    await q.query(`
      CREATE TABLE settings (
        id smallint PRIMARY KEY CHECK (id = 1),
        time_zone text NOT NULL,
        week_rule text NOT NULL CHECK (week_rule IN ('FIRST_DAY', 'ISO_8601')),
        locale text NOT NULL CHECK (locale IN ('zh-CN', 'en')),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(
      `INSERT INTO settings (id, time_zone, week_rule, locale) VALUES (1, 'Asia/Shanghai', 'FIRST_DAY', 'zh-CN')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE settings`);
    await q.query(`DROP TABLE api_tokens`);
  }
}
