import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../database.js';
import { DatabaseLockedError } from '../embedded.js';
import { createTestDatabase, resolveTestDatabaseTarget, type TestDatabase } from '../testing/test-database.js';
import { migrations } from './index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function tables(db: Database): Promise<string[]> {
  const rows: { table_name: string }[] = await db.dataSource.query(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'migrations' ORDER BY 1`,
  );
  return rows.map((r) => r.table_name);
}

async function migrateUpDownUp(db: Database) {
  expect(await tables(db)).toEqual([]);
  expect(await db.migrate()).toEqual(migrations.map((m) => m.name));
  expect(await tables(db)).toEqual(['api_tokens', 'failure_codes', 'payment_counts_day', 'payment_counts_minute', 'payment_events', 'payment_totals_day', 'settings', 'source_ingest_stats', 'source_keys', 'sources']);
  const [settings] = await db.dataSource.query('SELECT time_zone, week_rule, locale FROM settings');
  expect(settings).toEqual({ time_zone: 'Asia/Shanghai', week_rule: 'FIRST_DAY', locale: 'zh-CN' });
  expect(await db.migrate()).toEqual([]); // idempotent
  for (let i = 0; i < migrations.length; i++) await db.revertLast();
  expect(await tables(db)).toEqual([]);
  expect(await db.migrate()).toHaveLength(migrations.length);
}

describe('migrations', () => {
  it('run up, down and up again on an empty PostgreSQL (or this run\'s database)', async () => {
    const target = await resolveTestDatabaseTarget();
    const tdb: TestDatabase = await createTestDatabase(target);
    cleanups.push(() => tdb.drop());
    const db = await tdb.open();
    cleanups.push(() => db.close());
    await migrateUpDownUp(db);
  });

  it('run up, down and up again on embedded PGlite', async () => {
    const db = await openDatabase({ dataDir: null });
    cleanups.push(() => db.close());
    expect(db.kind).toBe('embedded');
    await migrateUpDownUp(db);
  });
});

describe('embedded database', () => {
  it('keeps data across a restart in its data directory, and refuses a second process on it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-db-test-'));
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const first = await openDatabase({ dataDir: dir });
    await first.migrate();
    await first.dataSource.query(`UPDATE settings SET locale = 'en'`);
    await first.close();

    const again = await openDatabase({ dataDir: dir });
    cleanups.push(() => again.close());
    expect(await again.migrate()).toEqual([]);
    expect(await again.dataSource.query('SELECT locale FROM settings')).toEqual([{ locale: 'en' }]);

    // Pretend another live process holds the lock (our parent shell is alive for sure).
    fs.writeFileSync(path.join(dir, 'tally.pid'), String(process.ppid));
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-db-lock-'));
    cleanups.push(async () => fs.rmSync(other, { recursive: true, force: true }));
    fs.writeFileSync(path.join(other, 'tally.pid'), String(process.ppid));
    await expect(openDatabase({ dataDir: other })).rejects.toBeInstanceOf(DatabaseLockedError);
  });

  it('serves concurrent transactions one at a time without interleaving or deadlock', async () => {
    const db = await openDatabase({ dataDir: null });
    cleanups.push(() => db.close());
    await db.dataSource.query('CREATE TABLE counter (n int NOT NULL)');
    await db.dataSource.query('INSERT INTO counter VALUES (0)');
    // Read-modify-write in 20 concurrent transactions: interleaving would lose increments.
    await Promise.all(
      Array.from({ length: 20 }, () =>
        db.dataSource.transaction(async (m) => {
          const [{ n }] = await m.query('SELECT n FROM counter');
          await new Promise((r) => setTimeout(r, 5));
          await m.query('UPDATE counter SET n = $1', [n + 1]);
        }),
      ),
    );
    // A failed transaction rolls back and leaves the single session usable.
    await expect(
      db.dataSource.transaction(async (m) => {
        await m.query('UPDATE counter SET n = -1');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await db.dataSource.query('SELECT n FROM counter')).toEqual([{ n: 20 }]);
  });
});
