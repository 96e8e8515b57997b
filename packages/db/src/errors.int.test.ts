import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConnectionError } from './errors.js';
import { createTestDatabase, resolveTestDatabaseTarget, type TestDatabase } from './testing/test-database.js';

// Which server errors a retry of the same request can get past (503 + Retry-After), told from
// the real server's errors: the SQLSTATE alone does not say (57014 is both).
describe('isConnectionError on errors PostgreSQL raises', () => {
  let testDb: TestDatabase;
  let client: pg.Client;
  beforeAll(async () => {
    testDb = await createTestDatabase(await resolveTestDatabaseTarget());
    client = new pg.Client({ connectionString: testDb.options.url ?? undefined });
    if (testDb.target.kind !== 'embedded') await client.connect();
  });
  afterAll(async () => {
    if (testDb.target.kind !== 'embedded') await client.end();
    await testDb.drop();
  });
  const failure = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as { code?: string; message: string });

  it('a statement cancelled from outside or a read-only server: retry later; a statement timeout or a bad statement: no', async () => {
    if (testDb.target.kind === 'embedded') return; // one in-process session: no cancel, no timeouts from outside
    const other = new pg.Client({ connectionString: testDb.options.url ?? undefined });
    await other.connect();
    try {
      const pid = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      const sleeping = failure(client.query('SELECT pg_sleep(5)'));
      // A cancel that arrives before the statement runs is ignored: wait until it does.
      const sleepingNow = async () => (await other.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query LIKE '%pg_sleep(5)%'`, [pid])).rowCount === 1;
      for (let i = 0; i < 100 && !(await sleepingNow()); i++) await new Promise((r) => setTimeout(r, 20));
      await other.query('SELECT pg_cancel_backend($1)', [pid]);
      const cancelled = await sleeping;
      expect(cancelled?.code).toBe('57014');
      expect(isConnectionError(cancelled)).toBe(true);

      await client.query(`SET statement_timeout = '100ms'`);
      const timedOut = await failure(client.query('SELECT pg_sleep(1)'));
      await client.query('RESET statement_timeout');
      expect(timedOut?.code).toBe('57014');
      expect(isConnectionError(timedOut)).toBe(false);

      // temp_file_limit can only be set by a superuser (or a role granted it): a limit the
      // statement itself hits, which a retry meets again.
      if ((await client.query('SELECT rolsuper FROM pg_roles WHERE rolname = current_user')).rows[0]?.rolsuper) {
        await client.query(`SET temp_file_limit = '64kB'`);
        const tooBig = await failure(client.query('SELECT g FROM generate_series(1, 200000) g ORDER BY random()'));
        await client.query('RESET temp_file_limit');
        expect(tooBig?.code).toBe('53400');
        expect(isConnectionError(tooBig)).toBe(false);
      }

      const readOnly = await failure(client.query('BEGIN READ ONLY; CREATE TABLE nope (n int)'));
      await client.query('ROLLBACK');
      expect(readOnly?.code).toBe('25006');
      expect(isConnectionError(readOnly)).toBe(true);

      expect(isConnectionError(await failure(client.query('SELECT * FROM no_such_table')))).toBe(false);
    } finally {
      await other.end();
    }
  });
});
