import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeServer, type Database } from './database.js';
import { createTestDatabase, resolveTestDatabaseTarget, startTcpProxy, type TestDatabase } from './testing/test-database.js';

// What the stuck-connection watchdog learns from the server (see watchCheckouts).
describe('probeServer', () => {
  let testDb: TestDatabase;
  let db: Database;
  beforeAll(async () => {
    testDb = await createTestDatabase(await resolveTestDatabaseTarget());
    db = await testDb.open();
  });
  afterAll(async () => {
    await db.close();
    await testDb.drop();
  });

  it('tells an answer from none, and a backend at work from one whose reply is lost', async () => {
    if (testDb.target.kind === 'embedded') {
      // The embedded database lives in the process: nothing is watched there.
      let closed = 0;
      const stop = db.closeStuckConnections(100, () => closed++);
      await db.dataSource.query('SELECT pg_sleep(0.5)');
      stop();
      expect(closed).toBe(0);
      return;
    }
    const url = new URL(testDb.options.url!);
    const config = { host: url.hostname, port: Number(url.port || 5432), user: decodeURIComponent(url.username) || 'postgres', database: url.pathname.slice(1) };

    expect(await probeServer(config, [], 2_000, 100)).toEqual({ answered: true, lost: new Set() });
    // A refusal is an answer: the server is there (here: a database that does not exist).
    expect((await probeServer({ ...config, database: 'tally_no_such_database' }, [], 2_000, 100)).answered).toBe(true);
    // Nothing listening: no answer.
    const closedPort = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(port));
      });
    });
    expect((await probeServer({ ...config, host: '127.0.0.1', port: closedPort }, [], 2_000, 100)).answered).toBe(false);
    // A server that accepts the connection and then says nothing: no answer, within the time given.
    const proxy = await startTcpProxy({ host: config.host, port: config.port });
    try {
      proxy.freeze();
      const started = Date.now();
      expect((await probeServer({ ...config, host: '127.0.0.1', port: proxy.port }, [], 500, 100)).answered).toBe(false);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      proxy.thaw();
      await proxy.close();
    }

    // Backends: one idle in a transaction (its client would wait on a reply that is lost), one at work.
    const idle = new pg.Client(config);
    const busy = new pg.Client(config);
    await idle.connect();
    await busy.connect();
    try {
      await idle.query('BEGIN');
      await idle.query('SELECT 1');
      const working = busy.query('SELECT pg_sleep(1.5)');
      await new Promise((r) => setTimeout(r, 400));
      const pids = [(idle as unknown as { processID: number }).processID, (busy as unknown as { processID: number }).processID];
      expect(await probeServer(config, pids, 2_000, 200)).toEqual({ answered: true, lost: new Set([pids[0]]) });
      // Idle for less than the time given: not lost yet.
      expect((await probeServer(config, pids, 2_000, 60_000)).lost).toEqual(new Set());
      await working;
    } finally {
      await idle.end();
      await busy.end();
    }
  });
});
