import http from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../testing/test-app.js';

describe('readiness follows the database', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ viaProxy: true });
  });
  afterAll(() => t.close());

  it('goes 503 when the database is unreachable, answers SERVICE_UNAVAILABLE, and recovers without a restart', async () => {
    expect((await fetch(`${t.baseUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${t.baseUrl}/healthz`)).status).toBe(200);
    // The token is now remembered: during the outage the request reaches the resolvers.
    expect((await t.gql('{ sources { id } }')).errors).toBeUndefined();

    await t.proxy!.cut();
    const down = await fetch(`${t.baseUrl}/readyz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ status: 'unavailable' });
    expect((await fetch(`${t.baseUrl}/healthz`)).status).toBe(200);

    // (Settings are served from the process's cache; the source registry is read each time.)
    const q = await t.gql('{ sources { id } }');
    expect(q.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    expect(JSON.stringify(q)).not.toMatch(/ECONNREFUSED|SELECT|at .*\.js/);
    // As an HTTP status too, so that clients and proxies retry.
    const raw = await fetch(`${t.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.adminSecret}` },
      body: JSON.stringify({ query: '{ sources { id } }' }),
    });
    expect(raw.status).toBe(503);
    expect(raw.headers.get('retry-after')).toBe('5');

    await t.proxy!.restore();
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      status = (await fetch(`${t.baseUrl}/readyz`)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(200);
    const back = await t.gql<{ settings: { timeZone: string } }>('{ settings { timeZone } }');
    expect(back.data?.settings.timeZone).toBe('Asia/Shanghai');
  });
});

describe('graceful shutdown', () => {
  it('finishes an in-flight request, then refuses new connections', async () => {
    const t = await startTestApp();
    try {
      const port = Number(new URL(t.baseUrl).port);
      const body = JSON.stringify({ query: '{ me { name } }' });
      // A request whose body is still arriving when the stop begins.
      const inFlight = new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port, path: '/graphql', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${t.adminSecret}` } },
          (res) => {
            let text = '';
            res.on('data', (c) => (text += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on('error', reject);
        req.write(body.slice(0, 10));
        setTimeout(() => req.end(body.slice(10)), 500);
      });
      await new Promise((r) => setTimeout(r, 100));
      const stopped = t.app.stop();
      const result = await inFlight;
      expect(result.status).toBe(200);
      expect(JSON.parse(result.text)).toEqual({ data: { me: { name: 'test admin' } } });
      await stopped;
      await expect(fetch(`${t.baseUrl}/healthz`)).rejects.toThrow();
    } finally {
      await t.close();
    }
  });
});

describe('errors never leak internals', () => {
  let t: TestApp;
  const logged: { level: number; msg: string; err?: { message?: string; stack?: string } }[] = [];
  beforeAll(async () => {
    t = await startTestApp({ logger: pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line)) }) });
  });
  afterAll(() => t.close());

  it('masks an unexpected failure as INTERNAL_SERVER_ERROR without SQL or stack', async () => {
    // Break the settings row behind the API's back: the read fails inside TypeORM.
    await t.db.dataSource.query('ALTER TABLE settings RENAME COLUMN time_zone TO tz_broken');
    try {
      const r = await t.gql('{ settings { timeZone } }');
      expect(r.errors?.[0]).toMatchObject({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      expect(JSON.stringify(r)).not.toMatch(/tz_broken|time_zone|SELECT|stack|\.ts:|\.js:/i);
      // The cause is in the log, with its stack, for whoever runs the service.
      const line = logged.find((l) => l.level === 50 && /INTERNAL_SERVER_ERROR/.test(l.msg));
      expect(line?.err?.message).toMatch(/time_zone/);
      expect(line?.err?.stack).toBeTruthy();
    } finally {
      await t.db.dataSource.query('ALTER TABLE settings RENAME COLUMN tz_broken TO time_zone');
    }
  });

  it('names the argument holding a NUL character instead of failing in the database', async () => {
    logged.length = 0;
    const v = await t.gql('mutation($i: CreateSourceInput!) { createSource(input: $i) { source { id } } }', { i: { name: 'a\u0000b', kind: 'PAYMENT_EVENTS' } });
    expect(v.errors?.[0]).toMatchObject({ message: 'i.name: must not contain the NUL character (U+0000)', extensions: { code: 'BAD_USER_INPUT', field: 'i.name' } });
    const lit = await t.gql('{ paymentSuccess(direction: PAY_IN, from: "2023-01-09T00:00:00Z", to: "2023-01-10T00:00:00Z", channel: "a\\u0000b") { attempts } }');
    expect(lit.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'channel' });
    const codes = await t.gql('mutation { classifyFailureCodes(input: [{ code: "X\\u0000", attribution: USER }]) { code } }');
    const inFragment = await t.gql('query { ...F } fragment F on Query { paymentSuccess(direction: PAY_IN, from: "2023-01-09T00:00:00Z", to: "2023-01-10T00:00:00Z", channel: "\\u0000") { attempts } }');
    expect(inFragment.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'channel' });
    expect(codes.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input' });
    expect(logged.filter((l) => l.level >= 50)).toEqual([]);
  });

  it('answers NOT_FOUND for an id that is not a UUID, and BAD_REQUEST for a subscription over HTTP', async () => {
    const r = await t.gql('mutation { rotateSourceKey(id: "nope") { ingestKey } }');
    expect(r.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const res = await fetch(`${t.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.adminSecret}` },
      body: JSON.stringify({ query: 'subscription { metricUpdated(keys: ["payments.pay_in.attempts"], period: DAY) { value } }' }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { message: string; extensions: { code: string } }[] };
    expect(body.errors[0]).toMatchObject({ extensions: { code: 'BAD_REQUEST' } });
    expect(body.errors[0]!.message).toContain('WebSocket');
  });

  it('answers JSON 400 for a body that is not JSON, and 404 for unknown paths', async () => {
    const res = await fetch(`${t.baseUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": ' });
    expect(res.status).toBe(400);
    expect(await res.text()).not.toMatch(/at .*\(|node_modules/);
    expect((await fetch(`${t.baseUrl}/nope`)).status).toBe(404);
  });
});
