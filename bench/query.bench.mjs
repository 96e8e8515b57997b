/* global process, console, performance */
// Read latency: GraphQL paymentSuccessSeries (PAY_IN, 30 local days, DAY, groupBy CHANNEL) over
// HTTP to the real API on a year of stored events, against the same figures computed in the
// same run by a scan of the raw events. See docs/benchmarks.md.
//
//   npm run bench:query                      (loads BENCH_EVENTS, default 10,000,000, then measures)
//   npm run bench:query -- --keep            (or BENCH_KEEP=1: keep the loaded database, print its URL)
//   BENCH_REUSE_DATABASE_URL=postgres://…/tally_bench_… npm run bench:query   (skip the load)
//   BENCH_EVENTS=10000000 BENCH_RUNS=200 BENCH_WARMUP=300 BENCH_RAW_RUNS=20 BENCH_ROUNDS=4 BENCH_LOAD_CONCURRENCY=2 BENCH_LOAD_BATCH=20000
//
// The last line printed is `rollup_vs_raw_speedup=<raw p50 / rollup p50>`.
import {
  createBenchDatabase,
  envInt,
  fmt,
  generateEvents,
  gql,
  keepAliveAgent,
  log,
  machineFacts,
  percentile,
  pg,
  requireFromDb,
  serverFacts,
  startApi,
  createSource,
} from './common.mjs';

const EVENTS = envInt('BENCH_EVENTS', 10_000_000);
const RUNS = envInt('BENCH_RUNS', 200);
// The API is a long-running server: V8 optimises its per-request code (Express, Apollo's
// pipeline, the service) only after some hundreds of requests, which a deployed API has served
// within its first seconds. 300 warm-up requests (about one second) measure that steady state;
// the p50 of the first 200 of them is printed too, as the figure of a server just started.
const WARMUP = envInt('BENCH_WARMUP', 300);
const RAW_RUNS = envInt('BENCH_RAW_RUNS', 20);
// The rollup's and the raw scan's runs alternate in rounds, so both sample the same moments of
// a machine whose speed drifts from one minute to the next (as bench:ingest does).
const ROUNDS = Math.min(envInt('BENCH_ROUNDS', 4), RUNS, RAW_RUNS);
const LOAD_CONCURRENCY = envInt('BENCH_LOAD_CONCURRENCY', 2);
const LOAD_BATCH = envInt('BENCH_LOAD_BATCH', 20_000);
const KEEP = process.argv.includes('--keep') || process.env.BENCH_KEEP === '1';
const REUSE = process.env.BENCH_REUSE_DATABASE_URL || '';
const DAYS = 30;
const YEAR_MS = 365 * 86_400_000;

const SERIES = `query Series($from: DateTime!, $to: DateTime!) {
  paymentSuccessSeries(direction: PAY_IN, from: $from, to: $to, granularity: DAY, groupBy: [CHANNEL]) {
    from to channel attempts succeeded userFailures systemFailures unclassifiedFailures eligible rawRate effectiveRate
  }
}`;

// Groups by the local date itself and formats the ~1,400 groups afterwards (to_char on every
// one of ~530,000 rows would slow the baseline down for nothing).
const RAW_SCAN = `SELECT to_char(day, 'YYYY-MM-DD') AS day, channel, failure_code, n
  FROM (SELECT (occurred_at AT TIME ZONE $3)::date AS day, channel, failure_code, count(*)::int AS n
          FROM payment_events
         WHERE direction = 'PAY_IN' AND occurred_at >= $1 AND occurred_at < $2
         GROUP BY 1, 2, 3) AS g`;

/**
 * A year of events through the product's own write path: `insertPaymentEvents` of the db
 * package (events + minute + local-day counters + failure codes in one statement), in
 * transactions of LOAD_BATCH rows, LOAD_CONCURRENCY at a time, in time order. It has no
 * late-event horizon (the HTTP endpoint refuses events older than 35 days).
 */
async function load(url, sourceId) {
  const { openDatabase, insertPaymentEvents } = requireFromDb('./dist/index.js');
  const db = await openDatabase({ url, poolSize: LOAD_CONCURRENCY + 1, applicationName: 'tally-bench-load' });
  const batches = Math.ceil(EVENTS / LOAD_BATCH);
  const endMs = Date.now() - 60_000;
  const startMs = endMs - YEAR_MS;
  const span = YEAR_MS / batches;
  let next = 0;
  let done = 0;
  let retries = 0;
  let reported = 0;
  const t0 = performance.now();
  const worker = async () => {
    for (;;) {
      const k = next++;
      if (k >= batches) return;
      const count = Math.min(LOAD_BATCH, EVENTS - k * LOAD_BATCH);
      const rows = [];
      generateEvents({ count, fromMs: startMs + k * span, toMs: startMs + (k + 1) * span, seed: k + 1, offset: k * LOAD_BATCH }, (e) =>
        rows.push({ id: e.id, occurredAt: new Date(e.occurredAtMs), direction: e.direction, channel: e.channel, failureCode: e.failureCode, amountMinor: e.amountMinor, currency: e.currency }),
      );
      for (let attempt = 1; ; attempt++) {
        try {
          const inserted = await db.dataSource.transaction((m) => insertPaymentEvents(m, sourceId, rows));
          if (inserted.size !== count) throw new Error(`batch ${k}: ${inserted.size} of ${count} rows inserted`);
          break;
        } catch (err) {
          const code = err?.driverError?.code ?? err?.code;
          if (attempt >= 5 || (code !== '40P01' && code !== '40001')) throw err;
          retries++;
        }
      }
      done += count;
      if (done - reported >= EVENTS / 10 || done === EVENTS) {
        reported = done;
        const s = (performance.now() - t0) / 1000;
        log(`  loaded ${fmt(done)} / ${fmt(EVENTS)} in ${fmt(s)} s (${fmt(done / s)} rows/s)`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: LOAD_CONCURRENCY }, worker));
  } finally {
    await db.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  log(`  load: ${fmt(EVENTS)} events in ${fmt(seconds)} s = ${fmt(EVENTS / seconds)} rows/s (batches of ${fmt(LOAD_BATCH)}, ${LOAD_CONCURRENCY} concurrent transactions, ${retries} deadlock retries)`);
  return seconds;
}

async function main() {
  log(`bench:query — ${machineFacts()}`);
  let db = null;
  let url = REUSE;
  if (!REUSE) {
    db = await createBenchDatabase();
    url = db.url;
    log(`fresh database ${db.name}`);
  } else {
    log(`reusing ${url.replace(/:[^:@/]*@/, ':***@')} (no load)`);
  }
  let api;
  const client = new pg.Client({ connectionString: url });
  const keep = KEEP || !!REUSE;
  try {
    api = await startApi({ DATABASE_URL: url });
    await client.connect();
    log(`  ${await serverFacts(client)}`);
    let loadSeconds = null;
    if (!REUSE) {
      const source = await createSource(api, 'bench');
      loadSeconds = await load(url, source.id);
      const t = performance.now();
      await client.query('VACUUM (ANALYZE) payment_events, payment_counts_minute, payment_counts_day, payment_totals_day, failure_codes');
      // The load leaves gigabytes of dirty pages for the checkpointer to write out: measured
      // during that flush, both sides would time the load's aftermath, not themselves.
      await client.query('CHECKPOINT');
      log(`  VACUUM ANALYZE and CHECKPOINT after the load: ${fmt((performance.now() - t) / 1000, 1)} s (not counted in the load time)`);
    }
    const sizes = (
      await client.query(`SELECT relname, n_live_tup::bigint AS n, pg_size_pretty(pg_total_relation_size(relid)) AS size
        FROM pg_stat_user_tables WHERE relname IN ('payment_events', 'payment_counts_minute', 'payment_counts_day', 'payment_totals_day') ORDER BY relname`)
    ).rows;
    log(`  tables: ${sizes.map((r) => `${r.relname} ${fmt(Number(r.n))} rows, ${r.size}`).join('; ')}`);

    // 30 whole local days of the organisation's zone, ending at the start of the day of the
    // newest event (Asia/Shanghai unless the settings say otherwise).
    const w = (
      await client.query(`WITH z AS (SELECT time_zone AS tz FROM settings WHERE id = 1),
        d AS (SELECT date_trunc('day', max(occurred_at) AT TIME ZONE z.tz) AS local_end, z.tz FROM payment_events, z GROUP BY z.tz)
        SELECT tz, (local_end - make_interval(days => $1)) AT TIME ZONE tz AS "from", local_end AT TIME ZONE tz AS "to" FROM d`, [DAYS])
    ).rows[0];
    if (!w) throw new Error('no events stored');
    const from = w.from.toISOString();
    const to = w.to.toISOString();
    log(`  window: ${DAYS} local days of ${w.tz}, [${from}, ${to})`);

    // Classify most codes (as a team would) so the figures exercise attribution; three stay
    // UNCLASSIFIED. Idempotent, so a reused database gets the same. On a fresh database it
    // recomputes the day totals of a year of five codes (timed: what a classification costs).
    const tClassify = performance.now();
    await gql(
      api,
      `mutation($i: [FailureCodeClassificationInput!]!) { classifyFailureCodes(input: $i) { code } }`,
      {
        i: [
          { code: 'INSUFFICIENT_FUNDS', attribution: 'USER' },
          { code: 'USER_CANCELLED', attribution: 'USER' },
          { code: 'INVALID_ACCOUNT', attribution: 'USER' },
          { code: 'CHANNEL_TIMEOUT', attribution: 'SYSTEM' },
          { code: 'BANK_UNAVAILABLE', attribution: 'SYSTEM' },
        ],
      },
    );
    log(`  classifyFailureCodes of 5 codes: ${fmt(performance.now() - tClassify, 1)} ms`);
    const viewer = (await gql(api, `mutation { createApiToken(input: {name: "bench viewer", role: VIEWER}) { secret } }`)).createApiToken.secret;
    const agent = keepAliveAgent(1);
    let answer;
    const warm = [];
    for (let i = 0; i < WARMUP; i++) {
      const t = performance.now();
      answer = await gql(api, SERIES, { from, to }, viewer, agent);
      warm.push(performance.now() - t);
    }
    const cold = warm.slice(0, RUNS).sort((a, b) => a - b);
    if (cold.length) log(`  just after start: the first ${cold.length} requests (warm-up, not counted): p50 ${fmt(percentile(cold, 50), 2)} ms, p99 ${fmt(percentile(cold, 99), 2)} ms`);
    // Baseline: the same figures from the raw events (one warm-up run, not timed).
    let raw = (await client.query(RAW_SCAN, [from, to, w.tz])).rows;
    const times = [];
    const rawTimes = [];
    for (let round = 0; round < ROUNDS; round++) {
      const share = (total) => Math.floor(total / ROUNDS) + (round < total % ROUNDS ? 1 : 0);
      const rt = [];
      for (let i = 0; i < share(RUNS); i++) {
        const t = performance.now();
        answer = await gql(api, SERIES, { from, to }, viewer, agent);
        rt.push(performance.now() - t);
      }
      const st = [];
      for (let i = 0; i < share(RAW_RUNS); i++) {
        const t = performance.now();
        raw = (await client.query(RAW_SCAN, [from, to, w.tz])).rows;
        st.push(performance.now() - t);
      }
      times.push(...rt);
      rawTimes.push(...st);
      rt.sort((a, b) => a - b);
      st.sort((a, b) => a - b);
      const r50 = percentile(rt, 50);
      const s50 = percentile(st, 50);
      log(`  round ${round + 1}: rollup p50 ${fmt(r50, 2)} ms (${rt.length} runs), raw scan p50 ${fmt(s50, 1)} ms (${st.length} runs), ${fmt(s50 / r50, 1)}x`);
    }
    times.sort((a, b) => a - b);
    const rollup = { p50: percentile(times, 50), p99: percentile(times, 99), max: times[times.length - 1], mean: times.reduce((a, b) => a + b, 0) / times.length };
    const points = answer.paymentSuccessSeries;
    log(`  rollup (GraphQL over HTTP, ${RUNS} runs after ${WARMUP} warm-up, one at a time, in ${ROUNDS} rounds): p50 ${fmt(rollup.p50, 2)} ms, p99 ${fmt(rollup.p99, 2)} ms, max ${fmt(rollup.max, 2)} ms, mean ${fmt(rollup.mean, 2)} ms; ${points.length} points`);

    // The API remembers a window's calendar points: the first request for a window it was never
    // asked pays for computing them (and for new day starts). 50 such windows, each 30 days
    // ending 1…50 days earlier, asked once each.
    const fresh = [];
    for (let k = 1; k <= 50; k++) {
      const shift = (iso) => new Date(Date.parse(iso) - k * 86_400_000).toISOString();
      const t = performance.now();
      await gql(api, SERIES, { from: shift(from), to: shift(to) }, viewer, agent);
      fresh.push(performance.now() - t);
    }
    const freshSorted = [...fresh].sort((a, b) => a - b);
    log(`  first request for a window not asked before, 50 windows: p50 ${fmt(percentile(freshSorted, 50), 2)} ms, max ${fmt(freshSorted[freshSorted.length - 1], 1)} ms (the first five: ${fresh.slice(0, 5).map((x) => `${fmt(x, 1)} ms`).join(', ')})`);
    agent.destroy();

    // The day-counter read alone, through the db package over one connection (what the service
    // sends for whole local days), for the split between database and API/GraphQL/HTTP time.
    {
      const { openDatabase, readDayTotals } = requireFromDb('./dist/index.js');
      const one = await openDatabase({ url, poolSize: 1, applicationName: 'tally-bench-probe' });
      try {
        const dates = (await client.query(`SELECT ($1::timestamptz AT TIME ZONE $3)::date::text AS f, ($2::timestamptz AT TIME ZONE $3)::date::text AS t`, [from, to, w.tz])).rows[0];
        const sqlTimes = [];
        for (let i = 0; i < WARMUP + RUNS; i++) {
          const t = performance.now();
          await readDayTotals(one.dataSource.manager, { direction: 'PAY_IN', fromDate: dates.f, toDate: dates.t, channel: null, perDay: true, perChannel: true });
          if (i >= WARMUP) sqlTimes.push(performance.now() - t);
        }
        sqlTimes.sort((a, b) => a - b);
        log(`  (readDayTotals alone, db package over one connection: p50 ${fmt(percentile(sqlTimes, 50), 2)} ms, p99 ${fmt(percentile(sqlTimes, 99), 2)} ms)`);
      } finally {
        await one.close();
      }
    }

    rawTimes.sort((a, b) => a - b);
    const rawP50 = percentile(rawTimes, 50);
    const rawP99 = percentile(rawTimes, 99);
    log(`  raw scan (SQL GROUP BY over payment_events, ${RAW_RUNS} runs after 1 warm-up, one at a time, in the same ${ROUNDS} rounds): p50 ${fmt(rawP50, 1)} ms, p99 ${fmt(rawP99, 1)} ms, min ${fmt(rawTimes[0], 1)} ms, max ${fmt(rawTimes[rawTimes.length - 1], 1)} ms`);
    const plan = (await client.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${RAW_SCAN}`, [from, to, w.tz])).rows[0]['QUERY PLAN'][0];
    const nodes = [];
    for (let n = plan.Plan; n; n = n.Plans?.[0]) nodes.push(n['Node Type'] + (n['Workers Planned'] ? ` (${n['Workers Planned']} workers)` : ''));
    log(`  raw scan plan: ${nodes.join(' > ')}; execution ${fmt(plan['Execution Time'], 1)} ms`);

    // Agreement: every figure of every (local day, channel) point, recomputed from the raw
    // events with the failure-code attributions as stored.
    const attribution = new Map((await client.query('SELECT code, attribution FROM failure_codes')).rows.map((r) => [r.code, r.attribution]));
    const expected = new Map();
    for (const r of raw) {
      const k = `${r.day}|${r.channel}`;
      const e = expected.get(k) ?? { attempts: 0, succeeded: 0, userFailures: 0, systemFailures: 0, unclassifiedFailures: 0 };
      e.attempts += r.n;
      if (r.failure_code === null) e.succeeded += r.n;
      else {
        const a = attribution.get(r.failure_code) ?? 'UNCLASSIFIED';
        e[a === 'USER' ? 'userFailures' : a === 'SYSTEM' ? 'systemFailures' : 'unclassifiedFailures'] += r.n;
      }
      expected.set(k, e);
    }
    for (const e of expected.values()) {
      e.eligible = e.succeeded + e.systemFailures + e.unclassifiedFailures;
      e.rawRate = e.attempts > 0 ? e.succeeded / e.attempts : null;
      e.effectiveRate = e.eligible > 0 ? e.succeeded / e.eligible : null;
    }
    const FIGURES = ['attempts', 'succeeded', 'userFailures', 'systemFailures', 'unclassifiedFailures', 'eligible', 'rawRate', 'effectiveRate'];
    const none = { attempts: 0, succeeded: 0, userFailures: 0, systemFailures: 0, unclassifiedFailures: 0, eligible: 0, rawRate: null, effectiveRate: null };
    const dayOf = new Map();
    for (const p of points) if (!dayOf.has(p.from)) dayOf.set(p.from, (await client.query(`SELECT ($1::timestamptz AT TIME ZONE $2)::date::text AS d`, [p.from, w.tz])).rows[0].d);
    let compared = 0;
    const mismatches = [];
    const seen = new Set();
    for (const p of points) {
      const k = `${dayOf.get(p.from)}|${p.channel}`;
      seen.add(k);
      const e = expected.get(k) ?? none;
      const differ = FIGURES.filter((f) => e[f] !== p[f]);
      if (differ.length) mismatches.push({ k, differ, rollup: differ.map((f) => p[f]), raw: differ.map((f) => e[f]) });
      if (e.attempts > 0) compared++;
    }
    for (const k of expected.keys()) if (!seen.has(k)) mismatches.push({ k, missingFromRollup: expected.get(k) });
    if (dayOf.size !== DAYS) mismatches.push({ points: dayOf.size, expectedDays: DAYS });
    const totalAttempts = points.reduce((s, p) => s + p.attempts, 0);
    if (mismatches.length) {
      log(`  MISMATCH between rollup and raw scan: ${JSON.stringify(mismatches.slice(0, 5))}`);
      throw new Error(`${mismatches.length} mismatches`);
    }
    log(`  consistency check: ${compared} (day, channel) points, ${fmt(totalAttempts)} PAY_IN attempts — the API's figures equal the raw scan's (${FIGURES.join(', ')}): OK`);

    const speedup = rawP50 / rollup.p50;
    log('');
    log('summary');
    if (loadSeconds !== null) log(`  load: ${fmt(EVENTS)} events in ${fmt(loadSeconds)} s (${fmt(EVENTS / loadSeconds)} rows/s)`);
    log(`  rollup (GraphQL over HTTP) p50 ${fmt(rollup.p50, 2)} ms, p99 ${fmt(rollup.p99, 2)} ms (goal p99 <= 30 ms: ${rollup.p99 <= 30 ? 'met' : 'NOT met'})`);
    log(`  raw scan p50 ${fmt(rawP50, 1)} ms, p99 ${fmt(rawP99, 1)} ms; speedup ${fmt(speedup, 1)}x at p50, ${fmt(rawP99 / rollup.p99, 1)}x at p99 (goal >= 100x: ${speedup >= 100 ? 'met' : 'NOT met'})`);
    if (keep) log(`  kept database: BENCH_REUSE_DATABASE_URL=${url}`);
    log(`rollup_vs_raw_speedup=${speedup.toFixed(1)}`);
  } finally {
    await client.end().catch(() => {});
    await api?.stop();
    if (db && !keep) await db.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
