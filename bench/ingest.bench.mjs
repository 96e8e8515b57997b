/* global process, console, Buffer, performance, Blob */
// Ingest throughput: payment outcomes over HTTP (POST /v1/ingest/payment-outcomes, NDJSON) into
// the real API, against COPY of the same rows into a table with the same unique key, measured in
// the same run on the same fresh database. See docs/benchmarks.md.
//
//   npm run bench:ingest
//   BENCH_EVENTS=1000000 BENCH_CLIENTS=4 BENCH_BATCH=5000 BENCH_ROUNDS=5 BENCH_WARMUP=200000 BENCH_PGLITE_EVENTS=<BENCH_EVENTS> BENCH_SKIP_PGLITE=1
//   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres (the server the fresh database is created on)
//
// The last line printed is `ingest_vs_copy_ratio=<PostgreSQL ratio>`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { from as copyFrom } from 'pg-copy-streams';
import {
  cpuTimes,
  createBenchDatabase,
  createSource,
  envInt,
  fmt,
  generateEvents,
  keepAliveAgent,
  log,
  machineCpu,
  machineFacts,
  parallelCapacity,
  pg,
  postgresCpuSeconds,
  post,
  requireFromDb,
  serverFacts,
  startApi,
} from './common.mjs';

const EVENTS = envInt('BENCH_EVENTS', 1_000_000);
const CLIENTS = envInt('BENCH_CLIENTS', 4);
const BATCH = envInt('BENCH_BATCH', 5_000);
const PGLITE_EVENTS = envInt('BENCH_PGLITE_EVENTS', EVENTS);
const SKIP_PGLITE = process.env.BENCH_SKIP_PGLITE === '1';
const ROUNDS = envInt('BENCH_ROUNDS', 5);
const WARMUP = envInt('BENCH_WARMUP', 200_000, 0);
/** Every event of a payment_totals_day row, whatever its class. */
const TOTALS_SUM = 'succeeded + user_failures + system_failures + unclassified_failures';
const COPY_COLUMNS = 'source_id, event_id, occurred_at, direction, channel, failure_code, amount_minor, currency';

/** NDJSON bodies of BATCH events and the same rows as COPY text, built before any timing. */
function prepare(count, sourceId, nowMs, { quiet = false } = {}) {
  const t0 = performance.now();
  const bodies = [];
  const copyChunks = [];
  let ndjson = [];
  let copy = [];
  // In time order over the last 24 hours, the newest a minute old: nothing in the future and
  // everything well inside the 35-day late-event horizon.
  generateEvents({ count, fromMs: nowMs - 86_400_000, toMs: nowMs - 60_000 }, (e, i) => {
    const occurredAt = new Date(e.occurredAtMs).toISOString();
    ndjson.push(
      JSON.stringify({
        id: e.id,
        occurredAt,
        direction: e.direction,
        channel: e.channel,
        status: e.failureCode ? 'FAILED' : 'SUCCEEDED',
        ...(e.failureCode ? { failureCode: e.failureCode } : {}),
        amountMinor: e.amountMinor,
        currency: e.currency,
      }),
    );
    copy.push(`${sourceId}\t${e.id}\t${occurredAt}\t${e.direction}\t${e.channel}\t${e.failureCode ?? '\\N'}\t${e.amountMinor}\t${e.currency}`);
    if (ndjson.length === BATCH || i === count - 1) {
      bodies.push(Buffer.from(ndjson.join('\n') + '\n'));
      copyChunks.push(Buffer.from(copy.join('\n') + '\n'));
      ndjson = [];
      copy = [];
    }
  });
  const bytes = bodies.reduce((s, b) => s + b.length, 0);
  if (!quiet) log(`  generated ${fmt(count)} events in ${bodies.length} bodies (${fmt(bytes / 2 ** 20, 1)} MiB NDJSON) in ${fmt((performance.now() - t0) / 1000, 1)} s (not timed)`);
  return { bodies, copyChunks };
}

/** Sends every body with CLIENTS concurrent keep-alive clients; each takes the next batch in order. */
async function sendAll(api, ingestKey, bodies) {
  let next = 0;
  let accepted = 0;
  let duplicates = 0;
  let rejected = 0;
  let saturated = 0;
  const latencies = [];
  const headers = { 'content-type': 'application/x-ndjson', authorization: `Bearer ${ingestKey}` };
  const client = async () => {
    const agent = keepAliveAgent(1);
    try {
      for (;;) {
        const i = next++;
        if (i >= bodies.length) return;
        for (;;) {
          const t = performance.now();
          const res = await post(api.baseUrl, '/v1/ingest/payment-outcomes', bodies[i], headers, agent);
          if (res.status === 503) {
            saturated++;
            await sleep(100);
            continue;
          }
          if (res.status !== 200) throw new Error(`batch ${i}: HTTP ${res.status} ${JSON.stringify(res.json).slice(0, 500)}`);
          latencies.push(performance.now() - t);
          accepted += res.json.accepted;
          duplicates += res.json.duplicates;
          rejected += res.json.rejected.length;
          if (res.json.rejected.length) log(`  batch ${i}: rejected ${JSON.stringify(res.json.rejected.slice(0, 3))}`);
          break;
        }
      }
    } finally {
      agent.destroy();
    }
  };
  const cpu0 = cpuTimes(api.pid);
  const pg0 = postgresCpuSeconds();
  const own0 = process.cpuUsage();
  const m0 = machineCpu();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, client));
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = cpu0 === null ? null : cpuTimes(api.pid);
  const apiCpu = cpu1 === null ? null : cpu1.user + cpu1.system - cpu0.user - cpu0.system;
  const apiSystemCpu = cpu1 === null ? null : cpu1.system - cpu0.system;
  const pgCpu = pg0 === null ? null : postgresCpuSeconds() - pg0;
  const own = process.cpuUsage(own0);
  const m1 = machineCpu();
  latencies.sort((a, b) => a - b);
  return {
    seconds,
    accepted,
    duplicates,
    rejected,
    saturated,
    apiCpu,
    apiSystemCpu,
    pgCpu,
    clientCpu: (own.user + own.system) / 1e6,
    machineBusy: m0 && m1 ? (m1.busy - m0.busy) / (m1.total - m0.total) : null,
    latencies,
    p50: latencies[Math.floor(latencies.length / 2)],
    max: latencies[latencies.length - 1],
  };
}

/** Events in bodies [from, to): every body holds BATCH events but the last. */
const eventsIn = (from, to) => Math.min(EVENTS, to * BATCH) - from * BATCH;

/** The sendAll results of several rounds as one. */
function mergeRuns(runs) {
  const sum = (k) => runs.reduce((a, r) => (a === null || r[k] === null ? null : a + r[k]), 0);
  const latencies = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const busy = runs.reduce((a, r) => (a === null || r.machineBusy === null ? null : a + r.machineBusy * r.seconds), 0);
  const seconds = sum('seconds');
  return {
    seconds,
    accepted: sum('accepted'),
    duplicates: sum('duplicates'),
    rejected: sum('rejected'),
    saturated: sum('saturated'),
    apiCpu: sum('apiCpu'),
    apiSystemCpu: sum('apiSystemCpu'),
    pgCpu: sum('pgCpu'),
    clientCpu: sum('clientCpu'),
    machineBusy: busy === null ? null : busy / seconds,
    latencies,
    p50: latencies[Math.floor(latencies.length / 2)],
    max: latencies[latencies.length - 1],
  };
}

function reportIngest(label, count, r) {
  log(
    `  ${label}: ${fmt(count)} events in ${fmt(r.seconds, 2)} s = ${fmt(count / r.seconds)} rows/s ` +
      `(accepted ${fmt(r.accepted)}, duplicates ${r.duplicates}, rejected ${r.rejected}, 503s ${r.saturated}; ` +
      `request p50 ${fmt(r.p50)} ms, max ${fmt(r.max)} ms` +
      (r.apiCpu !== null ? `; API process CPU ${fmt(r.apiCpu, 1)} s = ${fmt((100 * r.apiCpu) / r.seconds)} % of one core` : '') +
      (r.machineBusy !== null ? `; machine ${fmt(100 * r.machineBusy)} % busy` : '') +
      ')',
  );
  // Where the CPU went, per event: on 2 cores every microsecond here is shared by all three.
  const per = (s) => (s === null ? '?' : fmt((s * 1e6) / count, 1));
  log(`  CPU per event: API ${per(r.apiCpu)} µs${r.apiSystemCpu === null ? '' : ` (${per(r.apiSystemCpu)} of it in the kernel)`}${r.pgCpu === null ? ' (database included)' : `, PostgreSQL (all its processes) ${per(r.pgCpu)} µs`}, this load generator ${per(r.clientCpu)} µs`);
}

async function copyInto(client, table, chunks) {
  const t0 = performance.now();
  await new Promise((resolve, reject) => {
    const stream = client.query(copyFrom(`COPY ${table} (${COPY_COLUMNS}) FROM STDIN`));
    stream.on('error', reject);
    stream.on('finish', resolve);
    let i = 0;
    const write = () => {
      while (i < chunks.length) {
        if (!stream.write(chunks[i++])) return void stream.once('drain', write);
      }
      stream.end();
    };
    write();
  });
  return (performance.now() - t0) / 1000;
}

/**
 * Before timing, the freshly started API ingests WARMUP events of another source into the same
 * database, as a service that has been running would have: a new process's first 200,000
 * events cost its CPU twice to three times what later ones do (11 µs, then 4–5 µs per event:
 * its heap and buffers growing page by page, code being compiled), which is start-up, not
 * ingest. Those rows stay in payment_events, so the timed ingest writes into a larger index
 * than the baseline's empty table (if anything, against it). Its own rate is printed for
 * comparison; BENCH_WARMUP=0 skips it.
 */
async function warmUp(api) {
  if (WARMUP === 0) return;
  const source = await createSource(api, 'bench-warmup');
  const { bodies } = prepare(WARMUP, source.id, Date.now(), { quiet: true });
  const r = await sendAll(api, source.ingestKey, bodies);
  if (r.accepted !== WARMUP) throw new Error(`warm-up accepted ${r.accepted} of ${WARMUP}`);
  log(`  warm-up (not timed): ${fmt(WARMUP)} events of another source in ${fmt(r.seconds, 2)} s = ${fmt(WARMUP / r.seconds)} rows/s into the just-started API`);
}

async function benchPostgres() {
  log(`PostgreSQL: ${fmt(EVENTS)} events, batches of ${fmt(BATCH)}, ${CLIENTS} concurrent keep-alive clients`);
  const db = await createBenchDatabase();
  log(`  fresh database ${db.name}`);
  let api;
  const client = new pg.Client({ connectionString: db.url });
  try {
    api = await startApi({ DATABASE_URL: db.url });
    await client.connect();
    log(`  ${await serverFacts(client)}`);
    const capacityBefore = await parallelCapacity();
    log(`  parallel capacity: two threads do ${capacityBefore.toFixed(2)}× one thread's work (2.00 = two idle cores; see parallelCapacity)`);
    await warmUp(api);
    const source = await createSource(api, 'bench');
    const { bodies, copyChunks } = prepare(EVENTS, source.id, Date.now());

    // Baseline: COPY of the same rows into a table shaped like payment_events with the same
    // primary key (no counters). Interleaved with the ingest in ROUNDS rounds (each: one COPY of
    // a round's rows in one transaction, then the HTTP ingest of the same rows), so both are
    // measured over the same stretches of time: this machine's speed drifts by a third within a
    // minute, and a baseline measured once before the ingest gave ratios from 0.39 to 0.69 for
    // the same code. The totals are sums over the rounds.
    await client.query(`CREATE TABLE copy_baseline (LIKE payment_events INCLUDING DEFAULTS, PRIMARY KEY (source_id, event_id))`);
    await client.query('CHECKPOINT');
    let copySeconds = 0;
    let copyPgCpu = 0;
    const runs = [];
    const perRound = Math.ceil(bodies.length / ROUNDS);
    for (let round = 0; round < ROUNDS; round++) {
      const from = round * perRound;
      const to = Math.min(bodies.length, from + perRound);
      if (from >= to) break;
      const copyPg0 = postgresCpuSeconds();
      const seconds = await copyInto(client, 'copy_baseline', copyChunks.slice(from, to));
      copySeconds += seconds;
      copyPgCpu = copyPg0 === null || copyPgCpu === null ? null : copyPgCpu + postgresCpuSeconds() - copyPg0;
      const r = await sendAll(api, source.ingestKey, bodies.slice(from, to));
      runs.push(r);
      const rows = eventsIn(from, to);
      log(`  round ${round + 1}: COPY ${fmt(rows / seconds)} rows/s, HTTP ingest ${fmt(rows / r.seconds)} rows/s, ratio ${(seconds / r.seconds).toFixed(2)}; CPU per event: API ${r.apiCpu === null ? '?' : fmt((r.apiCpu * 1e6) / rows, 1)} µs (kernel ${r.apiSystemCpu === null ? '?' : fmt((r.apiSystemCpu * 1e6) / rows, 1)}), PostgreSQL ${r.pgCpu === null ? '?' : fmt((r.pgCpu * 1e6) / rows, 1)} µs`);
    }
    const copied = Number((await client.query('SELECT count(*) FROM copy_baseline')).rows[0].count);
    if (copied !== EVENTS) throw new Error(`COPY stored ${copied} rows, expected ${EVENTS}`);
    const copyRate = EVENTS / copySeconds;
    log(`  COPY baseline: ${fmt(EVENTS)} rows in ${fmt(copySeconds, 2)} s = ${fmt(copyRate)} rows/s (one stream, one transaction a round${copyPgCpu === null ? '' : `; PostgreSQL CPU ${fmt((copyPgCpu * 1e6) / EVENTS, 1)} µs per row`})`);
    await client.query('DROP TABLE copy_baseline');

    const r = mergeRuns(runs);
    reportIngest('HTTP ingest', EVENTS, r);
    const capacityAfter = await parallelCapacity();
    log(`  parallel capacity after the rounds: ${capacityAfter.toFixed(2)}× (before: ${capacityBefore.toFixed(2)}×)`);
    const ofSource = async (sql) => Number((await client.query(sql, [source.id])).rows[0].n);
    const events = await ofSource('SELECT count(*) AS n FROM payment_events WHERE source_id = $1');
    const minute = await ofSource('SELECT coalesce(sum(events), 0) AS n FROM payment_counts_minute WHERE source_id = $1');
    const day = await ofSource('SELECT coalesce(sum(events), 0) AS n FROM payment_counts_day WHERE source_id = $1');
    const stats = await ofSource('SELECT coalesce(sum(accepted), 0) AS n FROM source_ingest_stats WHERE source_id = $1');
    log(`  verified: accepted ${fmt(r.accepted)}, payment_events ${fmt(events)}, sum(payment_counts_minute.events) ${fmt(minute)}, sum(payment_counts_day.events) ${fmt(day)}, sum(source_ingest_stats.accepted) ${fmt(stats)}`);
    for (const [what, n] of [['accepted', r.accepted], ['payment_events', events], ['minute counters', minute], ['day counters', day], ['source stats', stats]]) {
      if (n !== EVENTS) throw new Error(`${what} = ${n}, expected ${EVENTS}`);
    }
    // The day totals by class have no source column: all sources' (the warm-up's too).
    const allDays = Number((await client.query('SELECT coalesce(sum(events), 0) AS n FROM payment_counts_day')).rows[0].n);
    const totals = Number((await client.query(`SELECT coalesce(sum(${TOTALS_SUM}), 0) AS n FROM payment_totals_day`)).rows[0].n);
    log(`  verified: sum of payment_totals_day ${fmt(totals)} = sum(payment_counts_day.events) of all sources ${fmt(allDays)}`);
    if (totals !== allDays) throw new Error(`day totals = ${totals}, day counters = ${allDays}`);
    const ingestRate = EVENTS / r.seconds;
    return { copyRate, ingestRate, ratio: ingestRate / copyRate, capacity: [capacityBefore, capacityAfter] };
  } finally {
    await client.end().catch(() => {});
    await api?.stop();
    await db.drop();
  }
}

async function benchPglite() {
  log(`PGlite (embedded, one session): ${fmt(PGLITE_EVENTS)} events${PGLITE_EVENTS < EVENTS ? ` (fewer than the ${fmt(EVENTS)} of PostgreSQL: one session is slow)` : ''}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-bench-'));
  let api;
  try {
    api = await startApi({ DATABASE_URL: undefined, TALLY_DATA_DIR: dir });
    const source = await createSource(api, 'bench');
    const { bodies, copyChunks } = prepare(PGLITE_EVENTS, source.id, Date.now());
    const r = await sendAll(api, source.ingestKey, bodies);
    r.pgCpu = null; // PGlite runs inside the API process: its CPU is the API's
    reportIngest('HTTP ingest', PGLITE_EVENTS, r);
    await api.stop();
    api = undefined;

    // The same data directory opened in this process to verify, then a COPY baseline into it.
    const { PGlite } = await import(pathToFileURL(requireFromDb.resolve('@electric-sql/pglite')).href);
    const lite = await PGlite.create({ dataDir: path.join(dir, 'pgdata') });
    try {
      const one = async (sql) => Number((await lite.query(sql)).rows[0].n);
      const events = await one('SELECT count(*) AS n FROM payment_events');
      const minute = await one('SELECT coalesce(sum(events), 0) AS n FROM payment_counts_minute');
      const day = await one('SELECT coalesce(sum(events), 0) AS n FROM payment_counts_day');
      const totals = await one(`SELECT coalesce(sum(${TOTALS_SUM}), 0) AS n FROM payment_totals_day`);
      log(`  verified: accepted ${fmt(r.accepted)}, payment_events ${fmt(events)}, sum(payment_counts_minute.events) ${fmt(minute)}, sum(payment_counts_day.events) ${fmt(day)}, day totals ${fmt(totals)}`);
      for (const [what, n] of [['accepted', r.accepted], ['payment_events', events], ['minute counters', minute], ['day counters', day], ['day totals', totals]]) {
        if (n !== PGLITE_EVENTS) throw new Error(`PGlite: ${what} = ${n}, expected ${PGLITE_EVENTS}`);
      }
      await lite.exec(`CREATE TABLE copy_baseline (LIKE payment_events INCLUDING DEFAULTS, PRIMARY KEY (source_id, event_id))`);
      const blob = new Blob(copyChunks);
      const t0 = performance.now();
      await lite.query(`COPY copy_baseline (${COPY_COLUMNS}) FROM '/dev/blob'`, [], { blob });
      const copySeconds = (performance.now() - t0) / 1000;
      const copied = await one('SELECT count(*) AS n FROM copy_baseline');
      if (copied !== PGLITE_EVENTS) throw new Error(`PGlite COPY stored ${copied} rows`);
      const copyRate = PGLITE_EVENTS / copySeconds;
      log(`  COPY baseline (in-process PGlite, /dev/blob): ${fmt(PGLITE_EVENTS)} rows in ${fmt(copySeconds, 2)} s = ${fmt(copyRate)} rows/s`);
      const ingestRate = PGLITE_EVENTS / r.seconds;
      return { copyRate, ingestRate, ratio: ingestRate / copyRate };
    } finally {
      await lite.close();
    }
  } finally {
    await api?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  log(`bench:ingest — ${machineFacts()}`);
  const pgResult = await benchPostgres();
  let liteResult = null;
  if (!SKIP_PGLITE) liteResult = await benchPglite();
  log('');
  log('summary');
  log(`  PostgreSQL: ingest ${fmt(pgResult.ingestRate)} rows/s, COPY ${fmt(pgResult.copyRate)} rows/s, ratio ${pgResult.ratio.toFixed(2)} (goal >= 0.50: ${pgResult.ratio >= 0.5 ? 'met' : 'NOT met'}); parallel capacity ${pgResult.capacity.map((c) => c.toFixed(2)).join(' / ')}`);
  if (liteResult) {
    log(`  PGlite (informational): ingest ${fmt(liteResult.ingestRate)} rows/s, in-process COPY ${fmt(liteResult.copyRate)} rows/s, ratio ${liteResult.ratio.toFixed(2)}; ingest vs PostgreSQL COPY ${(liteResult.ingestRate / pgResult.copyRate).toFixed(2)}`);
  }
  log(`ingest_vs_copy_ratio=${pgResult.ratio.toFixed(2)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
