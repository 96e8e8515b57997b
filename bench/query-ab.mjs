/* global process, console, performance */
// A/B of the read path: two API builds on one loaded database, alternating blocks of the
// bench:query request (paymentSuccessSeries, PAY_IN, 30 local days, DAY, by channel). Both
// answers must be equal. Used for docs/benchmarks.md ("the read path").
//
//   git worktree add /tmp/base <commit> && (cd /tmp/base && npm ci && npx turbo run build --filter=@tally/api...)
//   npm run bench:query -- --keep            (prints BENCH_REUSE_DATABASE_URL=…)
//   AB_BASE_ROOT=/tmp/base AB_DATABASE_URL=postgres://…/tally_bench_… node bench/query-ab.mjs
//   AB_ROUNDS=6 AB_BLOCK=200 AB_WARMUP=300
//   AB_BASE_ENV="GRAPHQL_EXECUTOR=graphql-js"   (extra environment of the base API; with
//   AB_BASE_ROOT=. it compares two settings of the same build)
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envInt, gql, keepAliveAgent, percentile, pg } from './common.mjs';

const url = process.env.AB_DATABASE_URL;
const baseRoot = process.env.AB_BASE_ROOT;
if (!url || !baseRoot) throw new Error('set AB_DATABASE_URL (a loaded bench database) and AB_BASE_ROOT (a built checkout to compare with)');
const ROUNDS = envInt('AB_ROUNDS', 6);
const BLOCK = envInt('AB_BLOCK', 200);
const WARMUP = envInt('AB_WARMUP', 300);
const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ADMIN = `ab-admin-${process.pid}-token-0123456789`;

const baseEnv = Object.fromEntries((process.env.AB_BASE_ENV ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));

async function start(root, extraEnv = {}) {
  const child = spawn(process.execPath, ['--max-semi-space-size=64', path.join(root, 'apps/api/dist/main.js')], {
    cwd: root,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', TALLY_ADMIN_TOKEN: ADMIN, TALLY_DEMO: 'off', LOG_LEVEL: 'warn', NODE_ENV: 'production', DATABASE_URL: url, ...extraEnv },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /ready at http:\/\/localhost:(\d+)\//.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${root}: the API exited with code ${code}`)));
  });
  return { child, baseUrl: `http://127.0.0.1:${port}`, adminToken: ADMIN };
}

const SERIES = `query Series($from: DateTime!, $to: DateTime!) {
  paymentSuccessSeries(direction: PAY_IN, from: $from, to: $to, granularity: DAY, groupBy: [CHANNEL]) {
    from to channel attempts succeeded userFailures systemFailures unclassifiedFailures eligible rawRate effectiveRate
  }
}`;

const apis = { base: await start(baseRoot, baseEnv), current: await start(here) };
try {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const w = (
    await c.query(`WITH z AS (SELECT time_zone AS tz FROM settings WHERE id = 1),
      d AS (SELECT date_trunc('day', max(occurred_at) AT TIME ZONE z.tz) AS local_end, z.tz FROM payment_events, z GROUP BY z.tz)
      SELECT (local_end - interval '30 days') AT TIME ZONE tz AS "from", local_end AT TIME ZONE tz AS "to" FROM d`)
  ).rows[0];
  await c.end();
  const vars = { from: w.from.toISOString(), to: w.to.toISOString() };
  const agents = { base: keepAliveAgent(1), current: keepAliveAgent(1) };
  const answers = {};
  for (const k of Object.keys(apis)) for (let i = 0; i < WARMUP; i++) answers[k] = await gql(apis[k], SERIES, vars, ADMIN, agents[k]);
  if (JSON.stringify(answers.base) !== JSON.stringify(answers.current)) throw new Error('the two builds answer differently');
  const all = { base: [], current: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const line = [];
    for (const k of round % 2 ? ['current', 'base'] : ['base', 'current']) {
      const t = [];
      for (let i = 0; i < BLOCK; i++) {
        const s = performance.now();
        await gql(apis[k], SERIES, vars, ADMIN, agents[k]);
        t.push(performance.now() - s);
      }
      all[k].push(...t);
      t.sort((a, b) => a - b);
      line.push(`${k} p50 ${percentile(t, 50).toFixed(2)} p99 ${percentile(t, 99).toFixed(2)} ms`);
    }
    console.log(`round ${round + 1}: ${line.join(' | ')}`);
  }
  for (const [k, t] of Object.entries(all)) {
    t.sort((a, b) => a - b);
    console.log(`${k}: p50 ${percentile(t, 50).toFixed(2)} ms, p99 ${percentile(t, 99).toFixed(2)} ms over ${t.length} requests`);
  }
  for (const a of Object.values(agents)) a.destroy();
} finally {
  for (const a of Object.values(apis)) a.child.kill('SIGTERM');
}
