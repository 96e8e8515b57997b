import net from 'node:net';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
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
    idle.on('error', () => {});
    await idle.connect();
    await busy.connect();
    const admin = new pg.Client(config);
    await admin.connect();
    try {
      await admin.query('CREATE TABLE probe_locked (id int PRIMARY KEY)');
      await idle.query('BEGIN');
      await idle.query('INSERT INTO probe_locked VALUES (1)');
      const working = busy.query('SELECT pg_sleep(1.5)');
      await new Promise((r) => setTimeout(r, 400));
      const pids = [processId(idle), processId(busy)];
      // Idle for less than the time given: not lost yet.
      expect((await probeServer(config, pids, 2_000, 60_000)).lost).toEqual(new Set());
      expect(await probeServer(config, pids, 2_000, 200)).toEqual({ answered: true, lost: new Set([pids[0]]) });
      // The lost backend is ended: its transaction is rolled back and its lock released, so the
      // same row can be written at once instead of when the server notices the socket gone.
      await admin.query(`SET lock_timeout = '2s'`);
      await admin.query('INSERT INTO probe_locked VALUES (1)');
      expect((await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pids[0]])).rowCount).toBe(0);
      await working;
    } finally {
      await idle.end().catch(() => {});
      await busy.end();
      await admin.query('DROP TABLE IF EXISTS probe_locked');
      await admin.end();
    }
  });

  it('tells a COPY whose data stopped coming from one that is being fed', async () => {
    if (testDb.target.kind === 'embedded') return; // nothing is watched there (see above)
    const url = new URL(testDb.options.url!);
    const config = { host: url.hostname, port: Number(url.port || 5432), user: decodeURIComponent(url.username) || 'postgres', database: url.pathname.slice(1) };
    const proxy = await startTcpProxy({ host: config.host, port: config.port });
    const fed = new pg.Client(config);
    const starved = new pg.Client({ ...config, host: '127.0.0.1', port: proxy.port });
    starved.on('error', () => {});
    await fed.connect();
    await starved.connect();
    const copies: { stream: NodeJS.WritableStream; done: Promise<unknown> }[] = [];
    let feeding: NodeJS.Timeout | undefined;
    try {
      for (const c of [fed, starved]) {
        await c.query('CREATE TEMP TABLE copied (n int)');
        const stream = c.query(copyFrom('COPY copied FROM STDIN'));
        const done = new Promise((resolve) => {
          stream.on('finish', resolve);
          stream.on('error', resolve);
        });
        stream.write('1\n');
        copies.push({ stream, done });
      }
      let n = 2;
      feeding = setInterval(() => copies[0]!.stream.write(`${n++}\n`), 100);
      await new Promise((r) => setTimeout(r, 300));
      // The starved COPY's flow is lost on the way: the server waits for data that never comes.
      proxy.freeze('open');
      const pids = [processId(fed), processId(starved)];
      expect(await probeServer(config, pids, 2_000, 200)).toEqual({ answered: true, lost: new Set([pids[1]]) });
      // This process feeds the COPY and runs the probe: with its event loop blocked between the
      // looks, the data may be held back with them, so that pair is not judged: the probe looks
      // again (one more second) and sees the COPY fed.
      const blockedAt = Date.now();
      const probing = probeServer(config, [pids[0]!], 2_000, 200);
      await new Promise((r) => setTimeout(r, 150)); // the first look is in
      for (const until = Date.now() + 600; Date.now() < until; ); // blocked (the look still comes before 1.25 s)
      expect(await probing).toEqual({ answered: true, lost: new Set() });
      expect(Date.now() - blockedAt).toBeGreaterThan(2_000);

      // A backend judged lost whose client moves before it is ended (its reply came after all)
      // is neither ended nor reported: its connection stays usable.
      const late = new pg.Client(config);
      await late.connect();
      try {
        await late.query('BEGIN');
        await late.query('SELECT 1');
        await new Promise((r) => setTimeout(r, 300)); // idle in its transaction past the 200 ms given
        const judging = probeServer(config, [pids[0]!, processId(late)], 2_000, 200); // the fed COPY makes it wait between looks
        await new Promise((r) => setTimeout(r, 400));
        await late.query('SELECT 2');
        expect(await judging).toEqual({ answered: true, lost: new Set() });
        expect((await late.query('SELECT 3 AS n')).rows[0].n).toBe(3);
        await late.query('COMMIT');
      } finally {
        await late.end();
      }
    } finally {
      clearInterval(feeding);
      copies[0]?.stream.end();
      await copies[0]?.done;
      proxy.thaw();
      await proxy.close();
      await fed.end();
      await starved.end().catch(() => {});
    }
    // Ended by the probe, not merely forgotten.
    const check = new pg.Client(config);
    await check.connect();
    try {
      expect((await check.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [processId(starved)])).rowCount).toBe(0);
    } finally {
      await check.end();
    }
  });
});

const processId = (c: pg.Client) => (c as unknown as { processID: number }).processID;
