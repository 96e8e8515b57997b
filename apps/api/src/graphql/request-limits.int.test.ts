import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import pg from 'pg';
import { MAX_ALIASES, MAX_DEPTH, MAX_OPERATIONS_PER_SOCKET, MAX_REQUEST_BYTES, MAX_SERIES_POINTS_PER_REQUEST } from './request-limits.js';
import { Role } from '../modules/auth/role.js';
import { startTestApp, type TestApp } from '../testing/test-app.js';
import { event, minutesAgo, newSource } from '../testing/factories.js';

const HOUR = 3_600_000;

/** Runs `test` on an app of its own: the events it stores would show in the other tests' figures. */
async function inAppOfItsOwn(test: (t: TestApp) => Promise<void>): Promise<void> {
  const t = await startTestApp();
  try {
    await test(t);
  } finally {
    await t.close();
  }
}

type RawMessage = { id?: string; type: string; payload?: { message: string; extensions?: { code?: string } }[] };

/** A graphql-transport-ws socket spoken to message by message, acknowledged for `token`. */
async function rawSocket(t: TestApp, token: string) {
  const ws = new WebSocket(`${t.baseUrl.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
  const messages: RawMessage[] = [];
  ws.on('message', (m) => messages.push(JSON.parse(String(m))));
  await new Promise((r) => ws.once('open', r));
  const send = (m: object) => ws.send(JSON.stringify(m));
  /** Waits until `ok()` holds (at most `ms`); answers whether it does. */
  const until = async (ok: () => boolean, ms = 10_000) => {
    for (const end = Date.now() + ms; !ok() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    return ok();
  };
  send({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } });
  await until(() => messages.some((m) => m.type === 'connection_ack'));
  return { ws, messages, send, until };
}

describe('limits of one GraphQL request', () => {
  let t: TestApp;
  let viewer: string;
  beforeAll(async () => {
    t = await startTestApp();
    viewer = await t.tokenFor(Role.VIEWER);
  });
  afterAll(() => t.close());

  it(`refuses more than ${MAX_ALIASES} aliases as a validation error, before running anything`, async () => {
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `a${i}: settings { timeZone }`).join(' ');
    const ok = await t.gql<Record<string, { timeZone: string }>>(`{ ${fields(MAX_ALIASES)} }`, undefined, viewer);
    expect(ok.errors).toBeUndefined();
    expect(Object.keys(ok.data!)).toHaveLength(MAX_ALIASES);

    const res = await fetch(`${t.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${viewer}` },
      body: JSON.stringify({ query: `{ ${fields(MAX_ALIASES + 1)} }` }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { data?: unknown; errors: { message: string; extensions: { code: string } }[] };
    expect(body.data).toBeUndefined();
    expect(body.errors[0]!.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(body.errors[0]!.message).toBe(`Aliases limit of ${MAX_ALIASES} exceeded, found ${MAX_ALIASES + 1}.`);

    // Through fragments too.
    const viaFragment = await t.gql(`{ ...F } fragment F on Query { ${fields(MAX_ALIASES + 1)} }`, undefined, viewer);
    expect(viaFragment.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it(`refuses fields nested deeper than ${MAX_DEPTH}, before running anything, and still answers introspection`, async () => {
    // week: depth 1, each previous one more, number one more.
    const weeks = (previous: number) => `{ week(date: "2023-01-10") { ${'previous { '.repeat(previous)}number${' }'.repeat(previous)} } }`;
    const ok = await t.gql<{ week: unknown }>(weeks(MAX_DEPTH - 2), undefined, viewer);
    expect(ok.errors).toBeUndefined();
    let w = ok.data!.week as { previous?: unknown; number?: number };
    for (let i = 0; i < MAX_DEPTH - 2; i++) w = w.previous as typeof w;
    expect(w.number).toBe(3 + 52 - (MAX_DEPTH - 2)); // week 03 of 2023 (as in the example report), back into 2022's 52 weeks

    const res = await fetch(`${t.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${viewer}` },
      body: JSON.stringify({ query: weeks(1_000) }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { data?: unknown; errors: { message: string; extensions: { code: string } }[] };
    expect(body.data).toBeUndefined();
    expect(body.errors[0]).toMatchObject({ message: `Query depth limit of ${MAX_DEPTH} exceeded, found ${1_000 + 2}.`, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });

    // Fragments, named or inline, add no level: only fields count.
    const inline = `{ week(date: "2023-01-10") { ${'... on Week { previous { '.repeat(MAX_DEPTH - 2)}number${' } }'.repeat(MAX_DEPTH - 2)} } }`;
    expect((await t.gql(inline, undefined, viewer)).errors).toBeUndefined();
    const named = `{ week(date: "2023-01-10") { ...W0 } } ${Array.from({ length: 6 }, (_, i) => `fragment W${i} on Week { previous { ...W${i + 1} } }`).join(' ')} fragment W6 on Week { number }`;
    expect((await t.gql(named, undefined, viewer)).errors).toBeUndefined();
    const tooDeep = `{ week(date: "2023-01-10") { ${'... on Week { previous { '.repeat(MAX_DEPTH)}number${' } }'.repeat(MAX_DEPTH)} } }`;
    expect((await t.gql(tooDeep, undefined, viewer)).errors?.[0]?.message).toBe(`Query depth limit of ${MAX_DEPTH} exceeded, found ${MAX_DEPTH + 2}.`);

    // Clients generate their types from the standard introspection query, nested deeper than that.
    const { getIntrospectionQuery } = await import('graphql');
    const intro = await t.gql<{ __schema: { types: unknown[] } }>(getIntrospectionQuery(), undefined, viewer);
    expect(intro.errors).toBeUndefined();
    expect(intro.data!.__schema.types.length).toBeGreaterThan(20);
  });

  it(`answers at most ${MAX_SERIES_POINTS_PER_REQUEST} series points per request, failing the field that goes past it`, async () => {
    // 4,000 HOUR points each (166 days and 16 hours): five fit, the sixth goes past the limit.
    const to = Math.floor(Date.now() / HOUR) * HOUR;
    const from = new Date(to - 4_000 * HOUR).toISOString();
    const series = Array.from(
      { length: 6 },
      (_, i) => `s${i}: paymentSuccessSeries(direction: PAY_IN, from: "${from}", to: "${new Date(to).toISOString()}", granularity: HOUR) { from }`,
    ).join(' ');
    const r = await t.gql<Record<string, { from: string }[] | null>>(`{ ${series} }`, undefined, viewer);
    // The series field is non-null: the refused field takes the whole answer with it.
    expect(r.data).toBeNull();
    expect(r.errors).toHaveLength(1);
    expect(r.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
    expect(r.errors![0]!.message).toMatch(new RegExp(`more than ${MAX_SERIES_POINTS_PER_REQUEST} series points in all`));

    // Five fit; and each request has its own budget.
    for (let i = 0; i < 2; i++) {
      const five = await t.gql<Record<string, { from: string }[]>>(`{ ${series.split(' s5:')[0]} }`, undefined, viewer);
      expect(five.errors).toBeUndefined();
      expect(Object.values(five.data!).map((p) => p.length)).toEqual([4_000, 4_000, 4_000, 4_000, 4_000]);
    }

    // Metric series count against the same budget.
    const metric = Array.from(
      { length: 6 },
      (_, i) => `m${i}: metric(key: "payments.pay_in.attempts") { series(from: "${from}", to: "${new Date(to - i * HOUR).toISOString()}", granularity: HOUR) { from } }`,
    ).join(' ');
    const m = await t.gql(`{ ${metric} }`, undefined, viewer);
    expect(m.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
  });

  it('answers the same limits over WebSocket with their own message and code, not as internal errors', async () => {
    const client = createClient({ url: `${t.baseUrl.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${viewer}` }, retryAttempts: 0 });
    const run = (query: string, variables?: Record<string, unknown>) =>
      new Promise<unknown>((resolve) => {
        client.subscribe({ query, variables }, { next: resolve, error: resolve, complete: () => {} });
      });
    try {
      const aliases = Array.from({ length: MAX_ALIASES + 1 }, (_, i) => `a${i}: settings { timeZone }`).join(' ');
      expect(await run(`{ ${aliases} }`)).toEqual([
        expect.objectContaining({ message: `Aliases limit of ${MAX_ALIASES} exceeded, found ${MAX_ALIASES + 1}.`, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }),
      ]);
      expect(await run('{ nope }')).toEqual([expect.objectContaining({ extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })]);
      expect(await run('{ nope')).toEqual([expect.objectContaining({ extensions: { code: 'GRAPHQL_PARSE_FAILED' } })]);
      // A value its type refuses, as over HTTP.
      expect(await run('subscription { metricUpdated(keys: ["payments.pay_in.attempts"], period: FORTNIGHT) { key } }')).toEqual([
        expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) }),
      ]);
      // A variable of the wrong type too (it was INTERNAL_SERVER_ERROR over WebSocket).
      expect(await run('subscription($k: [String!]!) { metricUpdated(keys: $k, period: DAY) { key } }', { k: 5.5 })).toEqual([
        expect.objectContaining({ message: expect.stringMatching(/^Variable "\$k" got invalid value 5.5/), extensions: { code: 'BAD_USER_INPUT' } }),
      ]);
    } finally {
      await client.dispose();
    }
  });

  it(`runs at most ${MAX_OPERATIONS_PER_SOCKET} operations at once on one WebSocket, and closes one sending more than ${MAX_REQUEST_BYTES} bytes`, async () => {
    const client = createClient({ url: `${t.baseUrl.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${viewer}` }, retryAttempts: 0 });
    const SUB = 'subscription { metricUpdated(keys: ["payments.pay_in.attempts"], period: DAY) { key value } }';
    const first: Promise<unknown>[] = [];
    const stops: (() => void)[] = [];
    const open = () =>
      new Promise<unknown>((resolve) => {
        stops.push(client.subscribe({ query: SUB }, { next: (m) => resolve(m), error: (e) => resolve({ error: e }), complete: () => {} }));
      });
    try {
      for (let i = 0; i < MAX_OPERATIONS_PER_SOCKET; i++) first.push(open());
      const answers = await Promise.all(first);
      expect(answers.every((a) => (a as { data?: { metricUpdated: { key: string } } }).data?.metricUpdated.key === 'payments.pay_in.attempts')).toBe(true);
      // One more is refused with a reason; the others keep running.
      expect(await open()).toEqual({
        error: [expect.objectContaining({ message: expect.stringMatching(/^at most 100 operations at once on one connection/), extensions: { code: 'BAD_REQUEST' } })],
      });
      // Completing one makes room.
      stops[0]!();
      await new Promise((r) => setTimeout(r, 100));
      expect(await open()).toMatchObject({ data: { metricUpdated: { key: 'payments.pay_in.attempts' } } });
    } finally {
      for (const stop of stops) stop();
      await client.dispose();
    }

    // A message over the limit: the socket closes with 1009 (message too big), which is the
    // client's fault: nothing goes to the console as an internal error.
    const consoleError = vi.spyOn(console, 'error');
    try {
      const ws = new WebSocket(`${t.baseUrl.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
      await new Promise((r) => ws.once('open', r));
      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${viewer}`, pad: 'x'.repeat(MAX_REQUEST_BYTES) } }));
      expect(await closed).toBe(1009);
      await new Promise((r) => setTimeout(r, 100));
      expect(consoleError).not.toHaveBeenCalled();
    } finally {
      consoleError.mockRestore();
    }
  });

  it('counts an operation on its socket until it has really ended, though the client completes it at once or reuses its id', () => inAppOfItsOwn(countsOperations));

  async function countsOperations(t: TestApp) {
    const editor = await t.tokenFor(Role.EDITOR);
    const source = await newSource(t);
    const stored = async () => Number((await t.db.dataSource.query('SELECT count(*) AS n FROM payment_events WHERE source_id = $1', [source.id]))[0].n);
    const ingest = (id: string, eventId: string) =>
      JSON.stringify({
        id,
        type: 'subscribe',
        payload: {
          query: 'mutation($s: ID!, $e: [PaymentOutcomeInput!]!) { ingestPaymentOutcomes(sourceId: $s, events: $e) { accepted } }',
          variables: { s: source.id, e: [event(eventId, minutesAgo(4))] },
        },
      });

    // Ingests wait on the database while the socket's messages are read: a lock on the events
    // table on PostgreSQL, the one session kept busy on the embedded database.
    let holder: pg.Client | null = null;
    let sleeping: Promise<unknown> | null = null;
    const { ws, messages, until } = await rawSocket(t, editor);
    try {
      if (t.testDb.target.kind === 'postgres') {
        holder = new pg.Client({ connectionString: t.testDb.options.url });
        await holder.connect();
        await holder.query('BEGIN');
        await holder.query('LOCK TABLE payment_events IN EXCLUSIVE MODE');
      } else {
        sleeping = t.db.dataSource.query('SELECT pg_sleep(1.5)');
      }
      // 150 ingests, each completed by the client right after it is sent: graphql-ws forgets an
      // operation on `complete`, but an ingest already running goes on; only 100 may run.
      for (let i = 0; i < 150; i++) {
        ws.send(ingest(`m${i}`, `ws-${i}`));
        ws.send(JSON.stringify({ id: `m${i}`, type: 'complete' }));
      }
      // An id whose operation is still running cannot be used again (graphql-ws would lose track of one of them).
      ws.send(ingest('m0', 'ws-again'));
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await holder?.query('ROLLBACK');
      await holder?.end();
      await sleeping;
    }
    let n = -1;
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const now = await stored();
      if (now === n) break;
      n = now;
    }
    expect(n).toBe(MAX_OPERATIONS_PER_SOCKET);
    const again = messages.find((m) => m.id === 'm0' && m.type === 'error');
    expect(again?.payload?.[0]).toMatchObject({ message: 'operation id "m0" is still running on this connection; use another id', extensions: { code: 'BAD_REQUEST' } });

    // Once they have ended, the places are free again.
    ws.send(ingest('m0', 'ws-later'));
    expect(await until(() => messages.some((m) => m.id === 'm0' && m.type === 'next'))).toBe(true);
    expect(await stored()).toBe(MAX_OPERATIONS_PER_SOCKET + 1);
    ws.close();
  }

  it('stops a subscription on the client\'s complete though its id was used again while a slow reader held the previous one', () => inAppOfItsOwn(stopsReusedId));

  async function stopsReusedId(t: TestApp) {
    const { getIntrospectionQuery } = await import('graphql');
    const editor = await t.tokenFor(Role.EDITOR);
    const source = await newSource(t);
    const { ws, messages, send, until } = await rawSocket(t, editor);
    const SUB = 'subscription { metricUpdated(keys: ["payments.pay_in.attempts"], period: DAY) { key value } }';
    try {
      // The client stops reading: the server's sends back up behind big answers.
      (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
      for (let i = 0; i < 60; i++) send({ id: `fill-${i}`, type: 'subscribe', payload: { query: getIntrospectionQuery() } });
      await new Promise((r) => setTimeout(r, 300));
      send({ id: 'x', type: 'subscribe', payload: { query: SUB } }); // its first value waits to be sent
      await new Promise((r) => setTimeout(r, 300));
      send({ id: 'x', type: 'complete' });
      send({ id: 'x', type: 'subscribe', payload: { query: SUB } }); // the id again
      await new Promise((r) => setTimeout(r, 300));
      (ws as unknown as { _socket: { resume(): void } })._socket.resume();
      await until(() => messages.filter((m) => m.id?.startsWith('fill-') && m.type === 'complete').length === 60, 20_000);
      await new Promise((r) => setTimeout(r, 300));
      // The client stops x: nothing more may come for it, whichever of the two was running.
      send({ id: 'x', type: 'complete' });
      await new Promise((r) => setTimeout(r, 300));
      const before = messages.filter((m) => m.id === 'x').length;
      await t.gql('mutation($s: ID!, $e: [PaymentOutcomeInput!]!) { ingestPaymentOutcomes(sourceId: $s, events: $e) { accepted } }', { s: source.id, e: [event('after-x', minutesAgo(2))] }, editor);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(messages.filter((m) => m.id === 'x').slice(before)).toEqual([]);
      // And x is free again.
      send({ id: 'x', type: 'subscribe', payload: { query: '{ __typename }' } });
      expect(await until(() => messages.slice(-1)[0]?.id === 'x' && messages.slice(-1)[0]?.type === 'complete')).toBe(true);
    } finally {
      ws.close();
    }
  }

  it('refuses ingestPaymentOutcomes twice in one operation, storing nothing', async () => {
    const editor = await t.tokenFor(Role.EDITOR);
    const source = await newSource(t);
    const batch = (p: string) => [event(`${p}-1`, minutesAgo(5)), event(`${p}-2`, minutesAgo(5))];
    const twice = await t.gql(
      `mutation($s: ID!, $a: [PaymentOutcomeInput!]!, $b: [PaymentOutcomeInput!]!) {
        a: ingestPaymentOutcomes(sourceId: $s, events: $a) { accepted }
        b: ingestPaymentOutcomes(sourceId: $s, events: $b) { accepted }
      }`,
      { s: source.id, a: batch('a'), b: batch('b') },
      editor,
    );
    expect(twice.data).toBeUndefined();
    expect(twice.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(twice.errors?.[0]?.message).toMatch(/"ingestPaymentOutcomes" may appear once per operation, found 2/);
    const attempts = await t.gql<{ paymentSuccess: { attempts: number } }>(
      `{ paymentSuccess(direction: PAY_IN, from: "${minutesAgo(60)}", to: "${minutesAgo(-10)}") { attempts } }`,
      undefined,
      viewer,
    );
    expect(attempts.data?.paymentSuccess.attempts).toBe(0);

    const once = await t.gql<{ a: { accepted: number } }>(
      `mutation($s: ID!, $a: [PaymentOutcomeInput!]!) { a: ingestPaymentOutcomes(sourceId: $s, events: $a) { accepted } }`,
      { s: source.id, a: batch('c') },
      editor,
    );
    expect(once.data?.a.accepted).toBe(2);
  });

  it('answers a deeply nested variable as an ordinary request, not an internal error', async () => {
    const deep = `${'['.repeat(20_000)}"leaf"${']'.repeat(20_000)}`;
    const res = await fetch(`${t.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${viewer}` },
      body: `{"query":"{ __typename }","variables":{"x":${deep}}}`,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('tells a document error (GRAPHQL_VALIDATION_FAILED) from a bad argument value (BAD_USER_INPUT)', async () => {
    expect((await t.gql('{ nope }', undefined, viewer)).errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect((await t.gql('{ paymentSuccess(direction: PAY_IN) { attempts } }', undefined, viewer)).errors?.[0]?.extensions?.code).toBe(
      'GRAPHQL_VALIDATION_FAILED',
    );
    const badEnum = await t.gql('{ paymentSuccess(direction: SIDEWAYS, from: "2023-01-01T00:00:00Z", to: "2023-01-02T00:00:00Z") { attempts } }', undefined, viewer);
    expect(badEnum.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argument: 'direction' });
    const badDate = await t.gql('{ paymentSuccess(direction: PAY_IN, from: "yesterday", to: "2023-01-02T00:00:00Z") { attempts } }', undefined, viewer);
    expect(badDate.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argument: 'from' });
  });
});

describe('introspection', () => {
  it('needs a token in production; any role will do', async () => {
    const t = await startTestApp({ env: { NODE_ENV: 'production' } });
    try {
      const query = '{ __schema { queryType { name } } }';
      const anonymous = await t.gql(query, undefined, null);
      expect(anonymous.status).toBe(401);
      expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(anonymous.data).toBeUndefined();
      // Hidden in a fragment too.
      expect((await t.gql('{ ...F } fragment F on Query { __type(name: "Query") { name } }', undefined, null)).status).toBe(401);
      // Anonymous requests that do not introspect are unaffected: __typename is not introspection.
      expect((await t.gql('{ __typename }', undefined, null)).data).toEqual({ __typename: 'Query' });
      const viewer = await t.tokenFor(Role.VIEWER);
      expect((await t.gql<{ __schema: { queryType: { name: string } } }>(query, undefined, viewer)).data?.__schema.queryType.name).toBe('Query');
    } finally {
      await t.close();
    }
  });

  it('looks only at the operation that runs, and names no schema details in production errors', async () => {
    const t = await startTestApp({ env: { NODE_ENV: 'production' } });
    try {
      const doc = 'query A { __typename } query B { __schema { queryType { name } } }';
      const res = await fetch(`${t.baseUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: doc, operationName: 'A' }),
      });
      expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
      // Without a token, a misspelt field gets no "Did you mean …?" naming the real one.
      const typo = await t.gql('{ paymentSucess }', undefined, null);
      expect(typo.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(JSON.stringify(typo)).not.toMatch(/Did you mean|paymentSuccess"/);
    } finally {
      await t.close();
    }
  });

  it('stays open outside production, for the local landing page', async () => {
    const t = await startTestApp();
    try {
      expect((await t.gql<{ __schema: { queryType: { name: string } } }>('{ __schema { queryType { name } } }', undefined, null)).data?.__schema.queryType.name).toBe('Query');
    } finally {
      await t.close();
    }
  });
});

describe('GraphQL bodies are UTF-8', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('refuses bytes that are not UTF-8 (400) and other charsets (415) before anything runs, so ids never merge', async () => {
    const editor = await t.tokenFor(Role.EDITOR);
    const source = await newSource(t);
    const send = (id: Buffer, type = 'application/json') =>
      fetch(`${t.baseUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': type, authorization: `Bearer ${editor}` },
        body: Buffer.concat([
          Buffer.from(
            `{"query":"mutation($s: ID!, $e: [PaymentOutcomeInput!]!) { ingestPaymentOutcomes(sourceId: $s, events: $e) { accepted duplicates } }","variables":{"s":"${source.id}","e":[{"id":"`,
          ),
          id,
          Buffer.from(`","occurredAt":"${minutesAgo(5)}","direction":"PAY_IN","channel":"card","status":"SUCCEEDED"}]}}`),
        ]),
      });
    for (const id of [Buffer.from('gql-col-\xe9', 'latin1'), Buffer.from('gql-col-\xe8', 'latin1')]) {
      const res = await send(id);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/not valid UTF-8 \(byte offset \d+: 0xe[89]\)/);
    }
    const utf16 = await send(Buffer.from('gql-col', 'utf8'), 'application/json; charset=utf-16');
    expect(utf16.status).toBe(415);
    // Nothing stored; proper UTF-8 is accepted.
    const ok = await send(Buffer.from('gql-col-é', 'utf8'), 'application/json; charset=UTF-8');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ data: { ingestPaymentOutcomes: { accepted: 1, duplicates: 0 } } });
    const attempts = await t.gql<{ paymentSuccess: { attempts: number } }>(
      `{ paymentSuccess(direction: PAY_IN, from: "${minutesAgo(60)}", to: "${minutesAgo(-10)}") { attempts } }`,
    );
    expect(attempts.data?.paymentSuccess.attempts).toBe(1);
  });
});
