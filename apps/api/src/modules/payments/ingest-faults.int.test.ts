import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startTestApp, type TestApp } from '../../testing/test-app.js';
import { event, failed, minutesAgo, ndjson, newSource, post } from '../../testing/factories.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ viaProxy: true });
});
afterAll(() => t.close());

async function count(sql: string, params: unknown[]): Promise<number> {
  const [r] = await t.db.dataSource.query(sql, params);
  return Number(r.n);
}

describe('the database goes away during ingest', () => {
  it('answers 503 with Retry-After, applies nothing, and counts the retry once', async () => {
    const s = await newSource(t);
    const events = Array.from({ length: 500 }, (_, i) => (i % 50 ? event(`f${i}`, minutesAgo(3)) : failed(`f${i}`, minutesAgo(3), 'BANK_TIMEOUT')));
    const body = ndjson(events);

    let blocker: pg.Client | undefined;
    let busy: Promise<unknown> | undefined;
    if (t.testDb.target.kind === 'embedded') {
      // One session: keep it busy so the request is waiting on the database when it goes.
      busy = t.db.dataSource.query('SELECT pg_sleep(2)').catch(() => undefined);
    } else {
      // Hold the counters so the request stops inside its transaction, after inserting events.
      blocker = new pg.Client({ connectionString: t.testDb.options.url });
      await blocker.connect();
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE payment_counts_day IN EXCLUSIVE MODE');
    }
    const pending = post(t, s.key, body);
    await new Promise((r) => setTimeout(r, 400));
    await t.proxy!.cut();
    if (blocker) {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
    await busy;
    const down = await pending;
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBeTruthy();

    await t.proxy!.restore();
    // The pool notices the broken connections on the next use; readiness comes back by itself.
    let ready = 0;
    for (let i = 0; i < 40 && ready !== 200; i++) {
      ready = (await fetch(`${t.baseUrl}/readyz`)).status;
      if (ready !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    expect(ready).toBe(200);
    expect(await count('SELECT count(*) AS n FROM payment_events WHERE source_id = $1', [s.id])).toBe(0);

    let retry = await post(t, s.key, body);
    for (let i = 0; i < 10 && retry.status === 503; i++) retry = await post(t, s.key, body);
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ accepted: 500, duplicates: 0, rejected: [] });
    expect(await count('SELECT count(*) AS n FROM payment_events WHERE source_id = $1', [s.id])).toBe(500);
    expect(await count('SELECT sum(events) AS n FROM payment_counts_minute WHERE source_id = $1', [s.id])).toBe(500);
    expect(await count('SELECT sum(events) AS n FROM payment_counts_day WHERE source_id = $1', [s.id])).toBe(500);
    expect(await count(`SELECT events AS n FROM failure_codes WHERE code = 'BANK_TIMEOUT'`, [])).toBe(10);
  });
});

describe('a database that cannot serve for a while', () => {
  it('answers 503 with Retry-After while it cannot take writes (read-only after a failover) or cancels the statement, and counts the retry once', async () => {
    if (t.testDb.target.kind === 'embedded') return; // one in-process session: no failover, no operator to cancel it
    const f = await startTestApp();
    const admin = new pg.Client({ connectionString: f.testDb.options.url });
    await admin.connect();
    const database = (await admin.query('SELECT current_database() AS d')).rows[0].d as string;
    const reconnectPool = async () => {
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE 'tally%'`);
      for (let i = 0; i < 50; i++) if (await f.db.dataSource.query('SELECT 1').then(() => true, () => false)) return;
    };
    try {
      const s = await newSource(f);
      const body = ndjson(Array.from({ length: 50 }, (_, i) => event(`ro${i}`, minutesAgo(3))));
      await admin.query(`ALTER DATABASE "${database}" SET default_transaction_read_only = on`);
      await reconnectPool();
      expect((await f.db.dataSource.query('SHOW transaction_read_only'))[0].transaction_read_only).toBe('on');
      const refused = await post(f, s.key, body);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBeTruthy();
      expect(refused.body).toMatchObject({ error: expect.stringMatching(/unavailable/) });
      const read = await f.gql(`{ sources { id } }`);
      expect(read.errors).toBeUndefined(); // reads go on

      await admin.query(`ALTER DATABASE "${database}" RESET default_transaction_read_only`);
      await reconnectPool();
      // A statement cancelled from outside (an operator, a failover tool) mid-transaction.
      await admin.query('BEGIN');
      await admin.query(`SELECT 1 FROM sources WHERE id = $1 FOR UPDATE`, [s.id]);
      const cancelled = post(f, s.key, body);
      const stuck = async () => (await admin.query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows;
      for (let i = 0; i < 100 && (await stuck()).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      // The request's update of its source (last_received_at) waits on that row.
      const [victim] = await stuck();
      expect(victim).toBeDefined();
      await admin.query('SELECT pg_cancel_backend($1)', [victim.pid]);
      const answer = await cancelled;
      expect(answer.status).toBe(503);
      expect(answer.headers.get('retry-after')).toBeTruthy();
      await admin.query('COMMIT');

      const retry = await post(f, s.key, body);
      expect(retry.body).toMatchObject({ accepted: 50, duplicates: 0, rejected: [] });
      expect(Number((await admin.query('SELECT count(*) AS n FROM payment_events WHERE source_id = $1', [s.id])).rows[0].n)).toBe(50);
    } finally {
      await admin.query('ROLLBACK').catch(() => {});
      await admin.query(`ALTER DATABASE "${database}" RESET default_transaction_read_only`).catch(() => {});
      await admin.end();
      await f.close();
    }
  });
});

describe('a database that stops answering (frozen, not down)', () => {
  it('answers 503 once a request has held its connection past DATABASE_STUCK_TIMEOUT_MS and the server does not answer, and counts the retry once', async () => {
    const f = await startTestApp({ viaProxy: true, env: { DATABASE_STUCK_TIMEOUT_MS: '1000' } });
    try {
      if (f.db.kind === 'embedded' || f.testDb.target.kind === 'embedded') {
        // The embedded database lives in the API's process and cannot stall apart from it: its one
        // session is never closed, however long a statement takes (a demo load, a big import).
        expect(await f.db.dataSource.query('SELECT pg_sleep(1.5), 1 AS n')).toMatchObject([{ n: 1 }]);
        return;
      }
      const s = await newSource(f);
      const events = Array.from({ length: 300 }, (_, i) => (i % 30 ? event(`z${i}`, minutesAgo(3)) : failed(`z${i}`, minutesAgo(3), 'BANK_TIMEOUT')));
      const body = ndjson(events);
      expect((await post(f, s.key, ndjson(events.slice(0, 100)))).body).toMatchObject({ accepted: 100 });

      // A server that answers is working, however long a statement takes (a time-zone change
      // rebuilds the day table in one transaction): nothing is cut.
      expect(await f.db.dataSource.query('SELECT pg_sleep(2.5), 1 AS n')).toMatchObject([{ n: 1 }]);

      f.proxy!.freeze();
      const started = Date.now();
      const [ingest, read] = await Promise.all([
        post(f, s.key, body),
        f.gql(`{ paymentSuccess(direction: PAY_IN, from: "2023-01-09T00:00:00Z", to: "2023-01-16T00:00:00Z") { attempts } }`),
      ]);
      const waited = Date.now() - started;
      expect(ingest.status).toBe(503);
      expect(ingest.headers.get('retry-after')).toBeTruthy();
      expect(read.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
      // The limit (1 s), the probe (1 s) and the watchdog's tick, not for ever.
      expect(waited).toBeLessThan(8_000);

      f.proxy!.thaw();
      let retry = await post(f, s.key, body);
      for (let i = 0; i < 20 && retry.status === 503; i++) {
        await new Promise((r) => setTimeout(r, 250));
        retry = await post(f, s.key, body);
      }
      expect(retry.status).toBe(200);
      // The first 100 were stored before; the other 200 now, unless the frozen request's COMMIT
      // had reached the server (then they are duplicates). Either way each event counts once.
      expect(retry.body.accepted! + retry.body.duplicates!).toBe(300);
      const n = async (sql: string) => Number((await f.db.dataSource.query(sql, [s.id]))[0].n);
      expect(await n('SELECT count(*) AS n FROM payment_events WHERE source_id = $1')).toBe(300);
      expect(await n('SELECT sum(events) AS n FROM payment_counts_minute WHERE source_id = $1')).toBe(300);
      expect(await n('SELECT sum(events) AS n FROM payment_counts_day WHERE source_id = $1')).toBe(300);

      // A flow lost on the way while the server is fine (the connections open now stop passing
      // bytes, new ones pass): the server shows the backend idle, its reply lost; the connection
      // is closed and the request answers 503 rather than waiting for ever.
      const lost = f.db.dataSource.query('SELECT pg_sleep(0.3), 1 AS n');
      await new Promise((r) => setTimeout(r, 100));
      f.proxy!.freeze('open');
      const lostAt = Date.now();
      await expect(lost).rejects.toThrow(/Connection terminated|not queryable/);
      expect(Date.now() - lostAt).toBeLessThan(8_000);
      f.proxy!.thaw();
      let after = await post(f, s.key, ndjson([event('z-after', minutesAgo(2))]));
      for (let i = 0; i < 20 && after.status === 503; i++) after = await post(f, s.key, ndjson([event('z-after', minutesAgo(2))]));
      expect(after.body).toMatchObject({ accepted: 1 });

      // A flow lost in the middle of an ingest's transaction: its backend, idle in that
      // transaction, holds the locks of the events and counters it wrote. The watchdog ends it,
      // so the client's retry (over a new connection; the lost flow stays lost) goes through
      // instead of waiting on those locks until the server notices the socket gone (hours).
      const blocker = new pg.Client({ connectionString: f.testDb.options.url });
      await blocker.connect();
      try {
        // Holds the ingest at its counters' statement, after its COPY took the events' locks.
        await blocker.query('BEGIN');
        await blocker.query(`SELECT 1 FROM failure_codes WHERE code = 'BANK_TIMEOUT' FOR UPDATE`);
        const stranded = Array.from({ length: 200 }, (_, i) => (i % 20 ? event(`y${i}`, minutesAgo(2)) : failed(`y${i}`, minutesAgo(2), 'BANK_TIMEOUT')));
        const first = post(f, s.key, ndjson(stranded));
        const waiting = async () => Number((await blocker.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0].n);
        for (let i = 0; i < 100 && (await waiting()) === 0; i++) await new Promise((r) => setTimeout(r, 50));
        expect(await waiting()).toBe(1);
        f.proxy!.freeze('open');
        await blocker.query('COMMIT');
        expect((await first).status).toBe(503);
        const retryStarted = Date.now();
        let retry = await post(f, s.key, ndjson(stranded));
        for (let i = 0; i < 20 && retry.status === 503; i++) retry = await post(f, s.key, ndjson(stranded));
        expect(retry.status).toBe(200);
        expect(retry.body).toMatchObject({ accepted: 200, duplicates: 0 });
        expect(Date.now() - retryStarted).toBeLessThan(30_000);
        expect(await n('SELECT count(*) AS n FROM payment_events WHERE source_id = $1')).toBe(501);
        expect(await n('SELECT sum(events) AS n FROM payment_counts_day WHERE source_id = $1')).toBe(501);
        expect(Number((await blocker.query(`SELECT events AS n FROM failure_codes WHERE code = 'BANK_TIMEOUT'`)).rows[0].n)).toBe(10 + 10);
      } finally {
        await blocker.end();
      }
    } finally {
      f.proxy?.thaw();
      await f.close();
    }
  });
});

describe('ingest saturation', () => {
  it('answers 503 with Retry-After beyond the concurrency limit and loses nothing it accepted', async () => {
    const s = await startTestApp({ env: { INGEST_MAX_CONCURRENCY: '1' } });
    try {
      const src = await newSource(s);
      const bodies = Array.from({ length: 6 }, (_, b) => ndjson(Array.from({ length: 2_000 }, (_, i) => event(`sat-${b}-${i}`, minutesAgo(2)))));
      const answers = await Promise.all(bodies.map((body) => post(s, src.key, body)));
      const refused = answers.filter((a) => a.status === 503);
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.every((a) => a.headers.get('retry-after') === '1')).toBe(true);
      const accepted = answers.filter((a) => a.status === 200).reduce((n, a) => n + a.body.accepted!, 0);
      const [{ n }] = await s.db.dataSource.query('SELECT count(*)::int AS n FROM payment_events WHERE source_id = $1', [src.id]);
      expect(n).toBe(accepted);
    } finally {
      await s.close();
    }
  });
});

describe('connections dropped while requests run', () => {
  it('answers each request or SERVICE_UNAVAILABLE, keeps running, and stores every batch exactly once', async () => {
    const s = await newSource(t);
    // Drops every connection of the API's pool again and again: terminated by the server on
    // PostgreSQL (as a failover or an idle-session timeout would), the network cut on PGlite.
    let dropping = true;
    let drops = 0;
    const dropper = (async () => {
      const admin = t.testDb.target.kind === 'postgres' ? new pg.Client({ connectionString: t.testDb.options.url }) : null;
      await admin?.connect();
      while (dropping) {
        if (admin) await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
        else {
          await t.proxy!.cut();
          await t.proxy!.restore();
        }
        drops++;
        await new Promise((r) => setTimeout(r, 60));
      }
      await admin?.end();
    })();

    const graphqlCodes = new Map<string, number>();
    const reader = async () => {
      while (dropping) {
        const r = await t.gql(`{ paymentSuccess(direction: PAY_IN, from: "2023-01-09T00:00:00Z", to: "2023-01-16T00:00:00Z") { attempts } failureCodes { code } }`);
        const code = r.errors ? String(r.errors[0]?.extensions?.code) : 'OK';
        graphqlCodes.set(code, (graphqlCodes.get(code) ?? 0) + 1);
      }
    };
    const statuses = new Map<number, number>();
    let stored = 0;
    const writer = async (w: number) => {
      for (let b = 0; dropping; b++) {
        const body = ndjson(Array.from({ length: 200 }, (_, i) => event(`drop-${w}-${b}-${i}`, minutesAgo(2))));
        // A client retries on 503 (Retry-After) until the batch is in, as the docs ask.
        for (let tries = 0; ; tries++) {
          const r = await post(t, s.key, body);
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status === 200) {
            stored += (r.body.accepted ?? 0) + (r.body.duplicates ?? 0);
            break;
          }
          if (r.status !== 503 || tries > 50) return;
          await new Promise((res) => setTimeout(res, 50));
        }
      }
    };
    const work = Promise.all([reader(), reader(), reader(), writer(1), writer(2)]);
    await new Promise((r) => setTimeout(r, 2_500));
    dropping = false;
    await Promise.all([work, dropper]);

    expect(drops).toBeGreaterThan(10);
    expect([...graphqlCodes.keys()].filter((c) => c !== 'OK' && c !== 'SERVICE_UNAVAILABLE')).toEqual([]);
    expect([...statuses.keys()].filter((c) => c !== 200 && c !== 503)).toEqual([]);
    expect(graphqlCodes.get('OK') ?? 0).toBeGreaterThan(0);
    expect(stored).toBeGreaterThan(0);
    // Still serving, and every batch counted once: a retried batch's earlier attempt applied nothing.
    let ready = 0;
    for (let i = 0; i < 40 && ready !== 200; i++) {
      ready = (await fetch(`${t.baseUrl}/readyz`)).status;
      if (ready !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    expect(ready).toBe(200);
    expect(await count('SELECT count(*) AS n FROM payment_events WHERE source_id = $1', [s.id])).toBe(stored);
    expect(await count('SELECT sum(events) AS n FROM payment_counts_minute WHERE source_id = $1', [s.id])).toBe(stored);
  });
});
