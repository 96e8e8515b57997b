import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { startTestApp, type TestApp } from '../../testing/test-app.js';
import { event, failed, minutesAgo, ndjson, newSource, post } from '../../testing/factories.js';
import { Role } from '../auth/role.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ env: { INGEST_MAX_BODY_BYTES: String(256 * 1024) } });
});
afterAll(() => t.close());

async function stored(sourceId: string): Promise<number> {
  const [r] = await t.db.dataSource.query('SELECT count(*)::int AS n FROM payment_events WHERE source_id = $1', [sourceId]);
  return r.n;
}
async function counted(sourceId: string): Promise<number> {
  const [m] = await t.db.dataSource.query('SELECT coalesce(sum(events), 0)::int AS n FROM payment_counts_minute WHERE source_id = $1', [sourceId]);
  const [d] = await t.db.dataSource.query('SELECT coalesce(sum(events), 0)::int AS n FROM payment_counts_day WHERE source_id = $1', [sourceId]);
  expect(d.n).toBe(m.n); // both rollups always agree
  return m.n;
}

describe('POST /v1/ingest/payment-outcomes', () => {
  it('accepts NDJSON, rejects bad lines alone with field and reason, and keeps the good ones', async () => {
    const s = await newSource(t);
    const at = minutesAgo(30);
    const lines = [
      event('ok-1', at),
      '{"id": "broken", "occurredAt": ',
      { ...event('no-dir', at), direction: undefined },
      event('bad-dir', at, { direction: 'SIDEWAYS' as never }),
      event('bad-status', at, { status: 'MAYBE' as never }),
      event('code-on-success', at, { failureCode: 'X' }),
      event('no-code', at, { status: 'FAILED' }),
      event('no-offset', '2026-01-01T10:00:00'),
      event('future', new Date(Date.now() + 3_600_000)),
      event('too-late', new Date(Date.now() - 40 * 86_400_000)),
      event('negative', at, { amountMinor: -5 }),
      event('fraction', at, { amountMinor: 12.5 }),
      event('x'.repeat(10_000), at),
      event('long-channel', at, { channel: 'c'.repeat(10_000) }),
      event('bad-currency', at, { currency: 'XYZW' }),
      event('wrong-type', at, { channel: 42 as never }),
      failed('ok-2', at, 'BANK_TIMEOUT', { extra: 'ignored' }),
      '42',
    ];
    const r = await post(t, s.key, ndjson(lines));
    expect(r.status).toBe(200);
    expect(r.body.accepted).toBe(2);
    expect(r.body.duplicates).toBe(0);
    const byLine = Object.fromEntries(r.body.rejected!.map((x) => [x.line, x]));
    expect(byLine[2]).toMatchObject({ code: 'malformed' });
    expect(byLine[3]).toMatchObject({ id: 'no-dir', field: 'direction', code: 'invalid' });
    expect(byLine[4]).toMatchObject({ field: 'direction' });
    expect(byLine[5]).toMatchObject({ field: 'status' });
    expect(byLine[6]).toMatchObject({ field: 'failureCode' });
    expect(byLine[7]).toMatchObject({ field: 'failureCode' });
    expect(byLine[8]).toMatchObject({ field: 'occurredAt', code: 'invalid' });
    expect(byLine[8]!.reason).toMatch(/offset/);
    expect(byLine[9]).toMatchObject({ field: 'occurredAt', code: 'future' });
    expect(byLine[10]).toMatchObject({ field: 'occurredAt', code: 'too_late' });
    expect(byLine[11]).toMatchObject({ field: 'amountMinor' });
    expect(byLine[12]).toMatchObject({ field: 'amountMinor' });
    expect(byLine[13]).toMatchObject({ field: 'id' });
    expect(byLine[14]).toMatchObject({ field: 'channel' });
    expect(byLine[15]).toMatchObject({ field: 'currency' });
    expect(byLine[16]).toMatchObject({ field: 'channel' });
    expect(byLine[18]).toMatchObject({ code: 'invalid' });
    expect(r.body.rejected).toHaveLength(16);
    expect(await stored(s.id)).toBe(2);
    expect(await counted(s.id)).toBe(2);
  });

  it('accepts a JSON array and gzip, counting positions from 1', async () => {
    const s = await newSource(t);
    const at = minutesAgo(20);
    const r = await post(t, s.key, gzipSync(JSON.stringify([event('a1', at), event('a2', at, { amountMinor: -1 })])), {
      type: 'application/json',
      headers: { 'content-encoding': 'gzip' },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 1, rejected: [{ line: 2, field: 'amountMinor' }] });
  });

  it('counts a resend once: duplicates within a batch and across batches, conflicts rejected', async () => {
    const s = await newSource(t);
    const at = minutesAgo(10);
    const batch = ndjson([event('d1', at), event('d2', at), event('d1', at)]);
    expect((await post(t, s.key, batch)).body).toMatchObject({ accepted: 2, duplicates: 1, rejected: [] });
    expect((await post(t, s.key, batch)).body).toMatchObject({ accepted: 0, duplicates: 3, rejected: [] });
    // Same instant written with another offset is the same content.
    const shifted = new Date(at).toISOString().replace('Z', '+00:00');
    expect((await post(t, s.key, ndjson([event('d1', shifted)]))).body).toMatchObject({ accepted: 0, duplicates: 1 });
    const conflict = await post(t, s.key, ndjson([event('d2', at, { channel: 'alipay' }), event('d3', at), event('d3', at, { channel: 'wechat' })]));
    expect(conflict.body.accepted).toBe(1);
    expect(conflict.body.rejected).toEqual([
      expect.objectContaining({ line: 1, id: 'd2', code: 'conflict', field: 'channel', reason: 'id "d2" was already ingested with another channel' }),
      expect.objectContaining({ line: 3, id: 'd3', code: 'conflict', field: 'channel', reason: 'id "d3" appears on line 2 of this request with another channel' }),
    ]);
    expect(await stored(s.id)).toBe(3);
    expect(await counted(s.id)).toBe(3);
  });

  it('keeps the first line of a repeated id in a batch out of id order, and judges every repeat against it', async () => {
    const s = await newSource(t);
    const at = minutesAgo(12);
    const r = await post(
      t,
      s.key,
      ndjson([event('z-1', at), event('a-1', at), event('z-1', at, { channel: 'other' }), event('m-1', at), event('z-1', at), event('a-1', at)]),
    );
    expect(r.body).toMatchObject({ accepted: 3, duplicates: 2 });
    expect(r.body.rejected).toEqual([
      expect.objectContaining({ line: 3, id: 'z-1', code: 'conflict', field: 'channel', reason: 'id "z-1" appears on line 1 of this request with another channel' }),
    ]);
    // The stored z-1 is line 1's: its resend is a duplicate, line 3's a conflict.
    const again = await post(t, s.key, ndjson([event('z-1', at), event('z-1', at, { channel: 'other' })]));
    expect(again.body).toMatchObject({ accepted: 0, duplicates: 1, rejected: [expect.objectContaining({ line: 2, code: 'conflict' })] });
    expect(await stored(s.id)).toBe(3);
    expect(await counted(s.id)).toBe(3);
  });

  it('judges every line of an already ingested id against the stored version, not against the request\'s first line', async () => {
    const s = await newSource(t);
    const at = minutesAgo(15);
    expect((await post(t, s.key, ndjson([event('k-1', at), event('k-2', at)]))).body).toMatchObject({ accepted: 2 });
    // k-1: a wrong version first, then the stored one again. k-2: two wrong versions, each named by
    // its own difference from what is stored. k-3: new, so its lines are judged against its first.
    const r = await post(
      t,
      s.key,
      ndjson([
        event('k-1', at, { channel: 'wechat' }),
        event('k-1', at),
        event('k-2', new Date(Date.parse(at) + 1)),
        failed('k-2', at, 'BANK_TIMEOUT'),
        event('k-3', at),
        event('k-3', at),
        event('k-3', at, { direction: 'PAY_OUT' }),
      ]),
    );
    expect(r.body.accepted).toBe(1);
    expect(r.body.duplicates).toBe(2);
    expect((r.body.rejected ?? []).map((x) => [x.line, x.field, x.reason])).toEqual([
      [1, 'channel', 'id "k-1" was already ingested with another channel'],
      [3, 'occurredAt', 'id "k-2" was already ingested with another occurredAt'],
      [4, 'status', 'id "k-2" was already ingested with another status'],
      [7, 'direction', 'id "k-3" appears on line 5 of this request with another direction'],
    ]);
    expect(await stored(s.id)).toBe(3);
    expect(await counted(s.id)).toBe(3);
    const [stats] = await t.db.dataSource.query(
      'SELECT sum(accepted)::int AS accepted, sum(duplicates)::int AS duplicates, sum(rejected)::int AS rejected FROM source_ingest_stats WHERE source_id = $1',
      [s.id],
    );
    expect(stats).toEqual({ accepted: 3, duplicates: 2, rejected: 4 });
  });

  it('adds a mixed batch to exactly the minute counters its events belong to', async () => {
    // Directions, channels (one non-Latin), codes, offsets and minute edges mixed in one batch:
    // every counter row must equal the count of its stored events.
    const s = await newSource(t);
    const lines: unknown[] = [];
    const channels = ['unionpay', 'alipay', '微信支付'];
    for (let i = 0; i < 300; i++) {
      const at = minutesAgo(40 - (i % 7), (i * 13) % 60);
      const over = { direction: i % 3 === 0 ? 'PAY_OUT' : 'PAY_IN', channel: channels[i % channels.length] } as const;
      lines.push(i % 10 === 0 ? failed(`mix-${i}`, at, i % 20 === 0 ? 'BANK_TIMEOUT' : 'CARD_DECLINED', over) : event(`mix-${i}`, at, over));
    }
    const r = await post(t, s.key, ndjson(lines));
    expect(r.body).toMatchObject({ accepted: 300, duplicates: 0, rejected: [] });
    const counters = await t.db.dataSource.query(
      `SELECT direction, bucket, channel, failure_code, events::int AS n FROM payment_counts_minute WHERE source_id = $1 ORDER BY 1, 2, 3, 4`,
      [s.id],
    );
    const recounted = await t.db.dataSource.query(
      `SELECT direction, date_bin('1 minute', occurred_at, timestamptz '2000-01-01 00:00:00+00') AS bucket, channel,
              coalesce(failure_code, '') AS failure_code, count(*)::int AS n
         FROM payment_events WHERE source_id = $1 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
      [s.id],
    );
    expect(counters.length).toBeGreaterThan(20);
    expect(counters).toEqual(recounted);
  });

  it('stores text exactly as sent on the bulk path: backslashes, quotes, commas, \\N and non-Latin text', async () => {
    const s = await newSource(t);
    const at = minutesAgo(12);
    // Characters COPY's text format and array literals give a meaning to, in every text field.
    const odd = ['a\\b', '\\N', 'q"uote', "it's", 'com,ma', '{brace}', '支付宝', 'end\\'];
    const events = odd.flatMap((v, i) => [
      event(`${v}-${i}`, at, { channel: v }),
      failed(`f${i}-${v}`, at, `CODE_${v}`, { channel: `ch ${v}` }),
    ]);
    expect((await post(t, s.key, ndjson(events))).body).toMatchObject({ accepted: events.length, duplicates: 0, rejected: [] });
    // The same content again is a duplicate of every event (any change in storage would be a conflict).
    expect((await post(t, s.key, ndjson(events))).body).toMatchObject({ accepted: 0, duplicates: events.length, rejected: [] });
    const rows = (await t.db.dataSource.query('SELECT event_id, channel, failure_code FROM payment_events WHERE source_id = $1', [s.id])) as {
      event_id: string;
      channel: string;
      failure_code: string | null;
    }[];
    const byId = new Map(rows.map((r) => [r.event_id, r]));
    for (const e of events) {
      expect(byId.get(e.id)).toEqual({ event_id: e.id, channel: e.channel, failure_code: e.failureCode ?? null });
    }
    const codes = await t.gql<{ failureCodes: { code: string }[] }>('{ failureCodes { code } }');
    expect(codes.data!.failureCodes.map((c) => c.code)).toEqual(expect.arrayContaining(odd.map((v) => `CODE_${v}`)));
    // The counters name the same channels and codes (they go to PostgreSQL as array literals).
    for (const table of ['payment_counts_minute', 'payment_counts_day']) {
      const counted = (await t.db.dataSource.query(`SELECT channel, failure_code, sum(events)::int AS n FROM ${table} WHERE source_id = $1 GROUP BY 1, 2`, [s.id])) as {
        channel: string;
        failure_code: string;
        n: number;
      }[];
      const expected = events.map((e) => ({ channel: e.channel, failure_code: e.failureCode ?? '', n: 1 }));
      expect(counted).toEqual(expect.arrayContaining(expected));
      expect(counted).toHaveLength(expected.length);
    }
  });

  it('counts concurrent retries of the same batch exactly once', async () => {
    const s = await newSource(t);
    const events = Array.from({ length: 300 }, (_, i) => event(`c${i}`, minutesAgo(5 + (i % 7)), i % 10 ? {} : { status: 'FAILED', failureCode: 'BANK_TIMEOUT' }));
    const body = ndjson(events);
    const answers = await Promise.all(Array.from({ length: 6 }, () => post(t, s.key, body)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.reduce((n, a) => n + a.body.accepted!, 0)).toBe(300);
    expect(answers.reduce((n, a) => n + a.body.duplicates!, 0)).toBe(5 * 300);
    expect(await stored(s.id)).toBe(300);
    expect(await counted(s.id)).toBe(300);
  });

  it('refuses whole requests clearly and applies nothing', async () => {
    const name = `whole-${Math.random().toString(36).slice(2, 8)}`;
    const s = await newSource(t, name);
    const body = ndjson([event('w1', minutesAgo(3))]);
    const noKey = await post(t, null, body);
    expect(noKey.status).toBe(401);
    expect((await post(t, 'tik_notarealkeyatall', body)).status).toBe(401);
    expect((await post(t, t.adminSecret, body)).status).toBe(401); // an API token is not an ingest key
    expect((await post(t, s.key, body, { type: 'text/csv' })).status).toBe(415);
    expect((await post(t, s.key, body, { headers: { 'content-encoding': 'compress' } })).status).toBe(415);
    const empty = await post(t, s.key, '');
    expect(empty.status).toBe(400);
    expect(empty.body.error).toMatch(/empty/);
    expect((await post(t, s.key, '{"not": "an array"}', { type: 'application/json' })).status).toBe(400);
    expect((await post(t, s.key, '[{"id": ', { type: 'application/json' })).status).toBe(400);
    expect((await post(t, s.key, 'x'.repeat(300 * 1024))).status).toBe(413);
    // 1 MiB of zeros compresses to ~1 KB: the limit applies after decompression.
    const bomb = await post(t, s.key, Buffer.alloc(1024 * 1024, 0x20), { gzip: true });
    expect(bomb.status).toBe(413);
    const other = await newSource(t);
    const wrong = await post(t, s.key, body, { headers: { 'x-tally-source': other.id } });
    expect(wrong.status).toBe(403);
    expect(wrong.body.error).toMatch(/belongs to another source/);

    const rotated = await t.gql<{ rotateSourceKey: { ingestKey: string } }>('mutation($id: ID!) { rotateSourceKey(id: $id) { ingestKey } }', { id: s.id });
    const old = await post(t, s.key, body);
    expect(old.status).toBe(403);
    expect(old.body.error).toMatch(/revoked/);
    expect(await stored(s.id)).toBe(0);
    expect((await post(t, rotated.data!.rotateSourceKey.ingestKey, body)).body).toMatchObject({ accepted: 1 });
    // The header may name the key's own source by id (in any case, as any UUID) or by name.
    for (const own of [s.id, s.id.toUpperCase(), name]) {
      expect((await post(t, rotated.data!.rotateSourceKey.ingestKey, body, { headers: { 'x-tally-source': own } })).body).toMatchObject({ accepted: 0, duplicates: 1 });
    }
  });
});

describe('hostile input', () => {
  it('rejects NUL and other control characters, lone surrogates and huge amounts alone, naming the field', async () => {
    const s = await newSource(t);
    const at = minutesAgo(20);
    const r = await post(
      t,
      s.key,
      ndjson([
        event('h-ok', at),
        event('h-nul', at, { channel: 'a\u0000b' }),
        event('h-nl', at, { failureCode: 'X\nY', status: 'FAILED' }),
        event('h-sur\ud800', at),
        event('h-sur2', at, { channel: 'c\udc00' }),
        event('h-big', at, { amountMinor: 1e20 }),
        event('h-emoji-😀', at, { channel: '银联 😀' }),
      ]),
    );
    expect(r.status).toBe(200);
    expect(r.body.accepted).toBe(2);
    expect(r.body.rejected!.map((x) => [x.line, x.field])).toEqual([
      [2, 'channel'],
      [3, 'failureCode'],
      [4, 'id'],
      [5, 'channel'],
      [6, 'amountMinor'],
    ]);
    expect(r.body.rejected![0]!.reason).toMatch(/control characters/);
    expect(r.body.rejected![2]!.reason).toMatch(/lone surrogate/);
    expect(r.body.rejected![4]!.reason).toMatch(/too large/);
    // A well-formed non-ASCII id is stored as sent, so its resend is a duplicate, not a conflict.
    const again = await post(t, s.key, ndjson([event('h-emoji-😀', at, { channel: '银联 😀' })]));
    expect(again.body).toMatchObject({ accepted: 0, duplicates: 1, rejected: [] });
    expect(await stored(s.id)).toBe(2);
  });

  it('reports every repeat of a conflicting id as a conflict, not as a duplicate', async () => {
    const s = await newSource(t);
    const at = minutesAgo(25);
    await post(t, s.key, ndjson([event('c-1', at)]));
    const r = await post(t, s.key, ndjson([event('c-1', at, { channel: 'other' }), event('c-1', at, { channel: 'other' }), event('c-2', at), event('c-2', at)]));
    expect(r.body.accepted).toBe(1);
    expect(r.body.duplicates).toBe(1); // line 4 repeats line 3, which is new
    expect(r.body.rejected!.map((x) => [x.line, x.code])).toEqual([
      [1, 'conflict'],
      [2, 'conflict'],
    ]);
  });

  it('lists the first 10,000 rejections in line order and counts them all, keeping the good lines', async () => {
    const s = await newSource(t, 'many-rejections');
    const at = minutesAgo(20);
    await post(t, s.key, ndjson([event('cap-stored', at)]));
    // Line 1 conflicts with the stored version (found when storing, after validation);
    // 10,005 lines are not events, one is good, the last is not JSON.
    const lines = [event('cap-stored', at, { channel: 'other' }), ...Array.from({ length: 10_005 }, () => '{}'), event('cap-ok', at), '{"id":'];
    const r = await post(t, s.key, ndjson(lines));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 1, duplicates: 0, rejectedCount: 10_007 });
    expect(r.body.rejected).toHaveLength(10_000);
    expect(r.body.rejected![0]).toMatchObject({ line: 1, id: 'cap-stored', code: 'conflict' });
    expect(r.body.rejected![1]).toMatchObject({ line: 2, field: 'id', code: 'invalid' });
    expect(r.body.rejected!.map((x) => x.line)).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1));
    expect(await stored(s.id)).toBe(2);
    const q = await t.gql<{ sources: { id: string; last24h: { accepted: number; rejected: number } }[] }>('{ sources { id last24h { accepted rejected } } }');
    expect(q.data!.sources.find((x) => x.id === s.id)!.last24h).toEqual({ accepted: 2, rejected: 10_007 });

    // Few rejections: all listed, the count equal to the list's length.
    const few = await post(t, s.key, ndjson([event('cap-ok-2', at), '{}']));
    expect(few.body).toMatchObject({ accepted: 1, rejectedCount: 1 });
    expect(few.body.rejected).toHaveLength(1);
  });

  it('stores every offset RFC 3339 allows at its instant, also those PostgreSQL itself refuses (±16:00 and beyond)', async () => {
    const s = await newSource(t);
    const instant = Date.parse(minutesAgo(90, 30)) + 123;
    const written = (offsetMinutes: number) => {
      const local = new Date(instant + offsetMinutes * 60_000).toISOString().slice(0, 23);
      const sign = offsetMinutes < 0 ? '-' : '+';
      const abs = Math.abs(offsetMinutes);
      return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
    };
    const offsets = [0, 480, 345, -600, 14 * 60, 15 * 60 + 59, 16 * 60, 23 * 60 + 59, -(23 * 60 + 59)];
    const events = offsets.map((o, i) => event(`off-${i}`, written(o)));
    const r = await post(t, s.key, ndjson(events));
    expect(r.body).toMatchObject({ accepted: offsets.length, rejected: [] });
    const rows: { ms: string }[] = await t.db.dataSource.query(
      `SELECT (extract(epoch FROM occurred_at) * 1000)::bigint::text AS ms FROM payment_events WHERE source_id = $1`,
      [s.id],
    );
    expect(rows.map((x) => Number(x.ms))).toEqual(offsets.map(() => instant));
  });

  it('takes a JSON array that starts with a byte-order mark', async () => {
    const s = await newSource(t);
    const r = await post(t, s.key, `\ufeff${JSON.stringify([event('bom-1', minutesAgo(5))])}`, { type: 'application/json' });
    expect(r.status).toBe(200);
    expect(r.body.accepted).toBe(1);
  });

  it('serves concurrent overlapping batches in different orders without errors, counting each event once', async () => {
    const s = await newSource(t);
    const base = Date.now() - 40 * 60_000;
    const all = Array.from({ length: 1200 }, (_, i) => (i % 7 === 0 ? failed(`o-${i}`, new Date(base + i * 1000), 'BANK_TIMEOUT') : event(`o-${i}`, new Date(base + i * 1000), { channel: `ch-${i % 5}` })));
    let seed = 11;
    const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    // Six clients, each sending an overlapping slice of 600 events in its own shuffled order.
    const slices = Array.from({ length: 6 }, (_, c) => {
      const slice = all.slice(c * 120, c * 120 + 600);
      for (let i = slice.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [slice[i], slice[j]] = [slice[j]!, slice[i]!];
      }
      return slice;
    });
    const answers = await Promise.all(slices.map((slice) => post(t, s.key, ndjson(slice))));
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    const accepted = answers.reduce((n, a) => n + a.body.accepted!, 0);
    const duplicates = answers.reduce((n, a) => n + a.body.duplicates!, 0);
    expect(accepted).toBe(1200);
    expect(accepted + duplicates).toBe(6 * 600);
    expect(await stored(s.id)).toBe(1200);
    expect(await counted(s.id)).toBe(1200);
  });
});

describe('ingestPaymentOutcomes (GraphQL)', () => {
  const M = `mutation($s: ID!, $e: [PaymentOutcomeInput!]!) { ingestPaymentOutcomes(sourceId: $s, events: $e) { accepted duplicates rejected { line id field code reason } rejectedCount } }`;

  it('has the HTTP semantics for an EDITOR and refuses a VIEWER', async () => {
    const s = await newSource(t);
    const editor = await t.tokenFor(Role.EDITOR);
    const at = minutesAgo(8);
    const r = await t.gql<{ ingestPaymentOutcomes: { accepted: number; duplicates: number; rejected: { line: number; field: string }[] } }>(
      M,
      { s: s.id, e: [event('g1', at), event('g1', at), { id: 'g2', occurredAt: at, direction: 'PAY_OUT', channel: 'x', status: 'FAILED' }] },
      editor,
    );
    expect(r.data?.ingestPaymentOutcomes).toMatchObject({ accepted: 1, duplicates: 1, rejected: [{ line: 3, field: 'failureCode' }], rejectedCount: 1 });
    const viewer = await t.tokenFor(Role.VIEWER);
    expect((await t.gql(M, { s: s.id, e: [] }, viewer)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('rejects an event holding a NUL character alone, storing the others, as the HTTP ingest does', async () => {
    const s = await newSource(t);
    const at = minutesAgo(6);
    const r = await t.gql<{ ingestPaymentOutcomes: { accepted: number; rejected: { line: number; field: string; reason: string }[] } }>(M, {
      s: s.id,
      e: [event('n1', at), event('n2', at, { channel: 'bad\u0000channel' }), event('n3', at)],
    });
    expect(r.errors).toBeUndefined();
    expect(r.data?.ingestPaymentOutcomes.accepted).toBe(2);
    expect(r.data?.ingestPaymentOutcomes.rejected).toEqual([expect.objectContaining({ line: 2, field: 'channel' })]);
    expect(await stored(s.id)).toBe(2);
    // The source id is still guarded: a NUL there is the request's error, named.
    const bad = await t.gql(M, { s: 'x\u0000', e: [event('n4', at)] });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 's' });
  });

  it('refuses more than 1,000 events and an unknown source', async () => {
    const s = await newSource(t);
    const many = Array.from({ length: 1001 }, (_, i) => event(`m${i}`, minutesAgo(2)));
    const r = await t.gql(M, { s: s.id, e: many });
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'events' });
    expect(await stored(s.id)).toBe(0);
    const unknown = await t.gql(M, { s: '00000000-0000-0000-0000-000000000000', e: [event('u', minutesAgo(2))] });
    expect(unknown.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});

describe('sources', () => {
  it('lists freshness and the last 24 hours of activity', async () => {
    const s = await newSource(t, 'activity-check');
    await post(t, s.key, ndjson([event('s1', minutesAgo(4)), event('s1', minutesAgo(4)), event('s2', 'nope')]));
    const r = await t.gql<{ sources: { id: string; name: string; kind: string; lastEventAt: string; staleSeconds: number; last24h: { accepted: number; duplicates: number; rejected: number } }[] }>(
      '{ sources { id name kind lastEventAt staleSeconds last24h { accepted duplicates rejected } } }',
    );
    const mine = r.data!.sources.find((x) => x.id === s.id)!;
    expect(mine).toMatchObject({ name: 'activity-check', kind: 'PAYMENT_EVENTS', last24h: { accepted: 1, duplicates: 1, rejected: 1 } });
    expect(mine.staleSeconds).toBeGreaterThanOrEqual(4 * 60 - 5);
    expect(mine.staleSeconds).toBeLessThan(6 * 60);
    const dup = await t.gql('mutation { createSource(input: { name: "activity-check", kind: PAYMENT_EVENTS }) { ingestKey } }');
    expect(dup.errors?.[0]?.extensions?.code).toBe('CONFLICT');
  });
});

describe('bodies that are not UTF-8', () => {
  /** `text` as UTF-8, with each `\x..` escape written as that single byte (Latin-1 é is \xe9). */
  const bytes = (text: string) => Buffer.concat(text.split(/(\\x[0-9a-f]{2})/).map((p) => (p.startsWith('\\x') ? Buffer.from([parseInt(p.slice(2), 16)]) : Buffer.from(p))));
  const line = (id: string, at: string, channel = 'card') =>
    `{"id":"${id}","occurredAt":"${at}","direction":"PAY_IN","channel":"${channel}","status":"SUCCEEDED"}`;
  async function ids(sourceId: string): Promise<{ id: string; channel: string }[]> {
    return t.db.dataSource.query('SELECT event_id AS id, channel FROM payment_events WHERE source_id = $1 ORDER BY event_id', [sourceId]);
  }

  it('rejects a line with a Latin-1 byte alone instead of merging its id with another as a duplicate', async () => {
    const s = await newSource(t);
    const at = minutesAgo(7);
    // The reviewer's case: two ids that differ only in a Latin-1 byte. Both used to become "col-\uFFFD".
    const both = await post(t, s.key, bytes(`${line('col-\\xe9', at)}\n${line('col-\\xe8', at)}\n`));
    expect(both.status).toBe(200);
    expect(both.body).toEqual({
      accepted: 0,
      duplicates: 0,
      rejected: [
        { line: 1, code: 'malformed', reason: 'line 1 is not valid UTF-8 (byte offset 11 in the line: 0xe9); send UTF-8 text' },
        { line: 2, code: 'malformed', reason: 'line 2 is not valid UTF-8 (byte offset 11 in the line: 0xe8); send UTF-8 text' },
      ],
      rejectedCount: 2,
    });
    expect(await ids(s.id)).toEqual([]);

    // The same id in UTF-8 lands; the Latin-1 one and a Latin-1 channel are rejected, not counted as duplicates.
    const mixed = await post(t, s.key, bytes(`${line('col-é', at)}\n${line('col-\\xe8', at)}\n${line('col-2', at, 'caf\\xe9')}\n`));
    expect(mixed.body).toMatchObject({ accepted: 1, duplicates: 0 });
    expect(mixed.body.rejected!.map((r) => [r.line, r.code, r.reason])).toEqual([
      [2, 'malformed', expect.stringMatching(/^line 2 is not valid UTF-8/)],
      [3, 'malformed', expect.stringMatching(/^line 3 is not valid UTF-8 \(byte offset \d+ in the line: 0xe9\)/)],
    ]);
    expect(await ids(s.id)).toEqual([{ id: 'col-é', channel: 'card' }]);
    expect(await counted(s.id)).toBe(1);
  });

  it('rejects a bad line of a gzip body alone, after a byte-order mark', async () => {
    const s = await newSource(t);
    const at = minutesAgo(8);
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes(`${line('gz-1', at)}\n${line('gz-\\xff', at)}\n${line('gz-3', at, '银联')}\n`)]);
    const r = await post(t, s.key, body, { gzip: true });
    expect(r.body).toMatchObject({ accepted: 2, duplicates: 0, rejected: [{ line: 2, code: 'malformed' }] });
    expect(r.body.rejected![0]!.reason).toMatch(/not valid UTF-8.*0xff/);
    expect(await ids(s.id)).toEqual([
      { id: 'gz-1', channel: 'card' },
      { id: 'gz-3', channel: '银联' },
    ]);
  });

  it('refuses a charset other than UTF-8 with 415, naming it, and applies nothing', async () => {
    const s = await newSource(t);
    const at = minutesAgo(9);
    for (const charset of ['iso-8859-1', 'ISO-8859-1', '"windows-1252"', 'utf-16']) {
      const r = await post(t, s.key, bytes(`${line('cs-\\xe9', at)}\n`), { type: `application/x-ndjson; charset=${charset}` });
      expect(r.status).toBe(415);
      expect(r.body.error).toBe(`charset "${charset.replaceAll('"', '').toLowerCase()}" is not supported: the body must be UTF-8 (send charset=utf-8 or no charset)`);
    }
    const utf16 = await post(t, s.key, Buffer.from(`[${line('cs-16', at)}]`, 'utf16le'), { type: 'application/json; charset=utf-16' });
    expect(utf16.status).toBe(415);
    expect(await ids(s.id)).toEqual([]);
    // UTF-8 under its names, quoted or not, is taken.
    for (const [charset, id] of [['utf-8', 'cs-a'], ['UTF8', 'cs-b'], ['"UTF-8"', 'cs-c']] as const) {
      expect((await post(t, s.key, `${line(id, at)}\n`, { type: `application/x-ndjson;charset=${charset}` })).body).toMatchObject({ accepted: 1 });
    }
  });

  it('refuses a JSON array with a byte that is not UTF-8 with 400, saying where, and applies nothing', async () => {
    const s = await newSource(t);
    const at = minutesAgo(11);
    const r = await post(t, s.key, bytes(`[${line('arr-1', at)},${line('arr-\\xe9', at)}]`), { type: 'application/json' });
    expect(r.status).toBe(400);
    const offset = bytes(`[${line('arr-1', at)},${line('arr-', at)}`).indexOf('arr-"') + 4;
    expect(r.body.error).toBe(`body is not valid UTF-8 (byte offset ${offset}: 0xe9); nothing was applied; send UTF-8 text`);
    expect(await ids(s.id)).toEqual([]);
  });
});
