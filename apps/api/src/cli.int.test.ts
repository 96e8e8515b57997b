import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { openDatabase, type Database } from '@tally/db';
import { createTestDatabase, type TestDatabase } from '@tally/db/testing';

// The built CLI, as `npm run tally -- …` runs it (turbo builds it before these tests).
const CLI = path.resolve(__dirname, '../dist/cli.js');

// On PostgreSQL a database of its own; on the embedded target a data directory, which is how
// the CLI meets the embedded database (TALLY_DATA_DIR).
const target = inject('testDatabase');
let tdb: TestDatabase | null = null;
let dataDir: string | null = null;
let db: Database;
const open = () => (tdb ? tdb.open() : openDatabase({ dataDir }));
beforeAll(async () => {
  if (target.kind === 'postgres') tdb = await createTestDatabase(target);
  else dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-cli-test-'));
  db = await open();
  await db.migrate();
}, 60_000);
afterAll(async () => {
  await db?.close();
  await tdb?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Runs the CLI on the test database, this file's connection closed meanwhile (the embedded database serves one process). */
async function tally(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  await db.close();
  try {
    return await runCli(args);
  } finally {
    db = await open();
  }
}

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn' };
  for (const k of ['DATABASE_URL', 'TALLY_DATA_DIR', 'NODE_ENV']) delete env[k];
  if (tdb) env.DATABASE_URL = tdb.options.url;
  else env.TALLY_DATA_DIR = dataDir!;
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

it('`tally repair day-totals` says how many day totals differed from the day counters and rebuilds them', async () => {
  const [{ id }] = await db.dataSource.query(`INSERT INTO sources (name, kind) VALUES ('cli', 'PAYMENT_EVENTS') RETURNING id`);
  // Counters without their day totals, as an API process of the release before them writes.
  await db.dataSource.query(
    `INSERT INTO payment_counts_day (direction, local_date, channel, failure_code, source_id, events, last_occurred_at)
     VALUES ('PAY_IN', '2025-06-01', 'alipay', '', $1, 7, '2025-06-01T02:00:00Z'), ('PAY_IN', '2025-06-01', 'alipay', 'LIMIT', $1, 2, '2025-06-01T03:00:00Z')`,
    [id],
  );
  const first = await tally(['repair', 'day-totals']);
  expect(first).toMatchObject({ code: 0, stderr: '' });
  expect(first.stdout).toMatch(/^rebuilt the day totals on .+: 1 of their rows differed from the day counters \(now 1 rows\)\n$/);
  const [row] = await db.dataSource.query(`SELECT succeeded::int, unclassified_failures::int FROM payment_totals_day`);
  expect(row).toEqual({ succeeded: 7, unclassified_failures: 2 });
  const again = await tally(['repair', 'day-totals']);
  expect(again.stdout).toMatch(/matched the day counters \(1 rows\); rebuilt anyway\n$/);
});

it('`tally repair` of something else prints the usage and exits 2', async () => {
  const r = await tally(['repair', 'everything']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('repair day-totals');
});
