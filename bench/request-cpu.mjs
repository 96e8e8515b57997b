/* global process, console, performance */
// Where the time of one bench:query request goes: the CPU the API process, its PostgreSQL
// backends and this client spend per request (/proc/<pid>/stat ticks, Linux), next to the wall
// time, over REQUEST_CPU_RUNS requests one at a time after 300 warm-up ones. Used for
// docs/benchmarks.md ("Where a rollup request's time goes").
//
//   npm run bench:query -- --keep            (prints BENCH_REUSE_DATABASE_URL=…)
//   BENCH_REUSE_DATABASE_URL=postgres://…/tally_bench_… node bench/request-cpu.mjs
//   REQUEST_CPU_RUNS=2000
import fs from 'node:fs';
import { envInt, gql, keepAliveAgent, pg, startApi } from './common.mjs';

const url = process.env.BENCH_REUSE_DATABASE_URL;
if (!url) throw new Error('set BENCH_REUSE_DATABASE_URL to a database loaded by `npm run bench:query -- --keep`');
const RUNS = envInt('REQUEST_CPU_RUNS', 2_000);

const SERIES = `query Series($from: DateTime!, $to: DateTime!) {
  paymentSuccessSeries(direction: PAY_IN, from: $from, to: $to, granularity: DAY, groupBy: [CHANNEL]) {
    from to channel attempts succeeded userFailures systemFailures unclassifiedFailures eligible rawRate effectiveRate
  }
}`;
// The benchmark's window: the 30 whole local days of Asia/Shanghai (UTC+8, no DST) before today.
const DAY = 86_400_000;
const to = Math.floor((Date.now() + 8 * 3_600_000) / DAY) * DAY - 8 * 3_600_000;
const variables = { from: new Date(to - 30 * DAY).toISOString(), to: new Date(to).toISOString() };

/** CPU milliseconds of a process so far (user + system; the kernel counts in 1/100 s). */
function cpuMs(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const api = await startApi({ DATABASE_URL: url });
const agent = keepAliveAgent();
const admin = new pg.Client({ connectionString: url });
await admin.connect();
try {
  for (let i = 0; i < 300; i++) await gql(api, SERIES, variables, api.adminToken, agent);
  const backends = (await admin.query(`SELECT pid FROM pg_stat_activity WHERE application_name = 'tally-api' AND datname = current_database()`)).rows.map((r) => r.pid);
  const api0 = cpuMs(api.pid);
  const pg0 = backends.map(cpuMs);
  const me0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < RUNS; i++) await gql(api, SERIES, variables, api.adminToken, agent);
  const wall = performance.now() - t0;
  const me = process.cpuUsage(me0);
  const pgMs = backends.reduce((sum, pid, i) => sum + cpuMs(pid) - pg0[i], 0);
  const per = (ms) => `${(ms / RUNS).toFixed(2)} ms`;
  console.log(`${RUNS} requests, window [${variables.from}, ${variables.to})`);
  console.log(`per request: wall ${per(wall)}; API CPU ${per(cpuMs(api.pid) - api0)}; PostgreSQL backends CPU ${per(pgMs)}; this client CPU ${per((me.user + me.system) / 1000)}`);
} finally {
  await admin.end();
  await api.stop();
}
