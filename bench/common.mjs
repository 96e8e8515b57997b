/* global process, console, Buffer, URL */
// Shared pieces of the benchmark scripts (bench/*.bench.mjs): a throw-away database, the real
// API as a child process, GraphQL over HTTP, a seeded event generator, and small statistics.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

export const root = path.resolve(import.meta.dirname, '..');
/** Resolves packages the way the db workspace does (pg and PGlite are its dependencies). */
export const requireFromDb = createRequire(path.join(root, 'packages/db/package.json'));
export const pg = requireFromDb('pg');

export function log(...args) {
  console.log(...args);
}

export function envInt(name, fallback, min = 1) {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer of at least ${min} (got "${v}")`);
  return n;
}

export const adminUrl = () => process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

function withDatabase(url, name) {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A fresh database on the BENCH_DATABASE_URL server; `drop()` removes it. */
export async function createBenchDatabase() {
  const name = `tally_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(adminUrl(), name),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl() });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export async function serverFacts(client) {
  const q = async (sql) => (await client.query(sql)).rows[0];
  const v = await q(`SELECT current_setting('server_version') AS v, current_setting('shared_buffers') AS sb,
    current_setting('synchronous_commit') AS sc, current_setting('max_wal_size') AS wal`);
  return `PostgreSQL ${v.v} (shared_buffers ${v.sb}, synchronous_commit ${v.sc}, max_wal_size ${v.wal})`;
}

export function machineFacts() {
  return `${os.cpus().length} CPUs (${os.cpus()[0]?.model?.trim() ?? '?'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

// A fixed amount of integer work, timed inside a worker thread.
const SPIN = `const { parentPort } = require('node:worker_threads');
const t0 = process.hrtime.bigint(); let x = 1;
for (let i = 0; i < 2e8; i++) x = (x * 1103515245 + 12345) | 0;
parentPort.postMessage({ ms: Number(process.hrtime.bigint() - t0) / 1e6, x });`;
const spin = () =>
  new Promise((resolve, reject) => {
    const w = new Worker(SPIN, { eval: true });
    w.once('message', (m) => resolve(m.ms));
    w.once('error', reject);
  });

/**
 * How much work two threads get done at once, as a multiple of one thread alone (2.0 on two
 * idle cores). On these VMs it read 1.85–2.0 when quiet and 1.53 once when the host was busy,
 * when work spread over both cores (the HTTP ingest: API, PostgreSQL, clients) is likely to
 * suffer more than work on one (the COPY baseline). A moment's probe, printed as context for a
 * run, not a correction of it.
 */
export async function parallelCapacity() {
  const one = await spin();
  const both = await Promise.all([spin(), spin()]);
  return (2 * one) / Math.max(...both);
}

/** CPU seconds (user + system) used so far by a process, from /proc (Linux), or null. */
export function cpuSeconds(pid) {
  const t = cpuTimes(pid);
  return t === null ? null : t.user + t.system;
}

/** CPU seconds used so far by a process in user space and in the kernel, from /proc (Linux), or null. */
export function cpuTimes(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 }; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return null;
  }
}

/** CPU seconds used so far by every running `postgres` process (a local server), or null. */
export function postgresCpuSeconds() {
  try {
    let sum = 0;
    for (const pid of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      let stat;
      try {
        stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        continue;
      }
      if (!stat.includes('(postgres)')) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      sum += (Number(fields[11]) + Number(fields[12])) / 100;
    }
    return sum;
  } catch {
    return null;
  }
}

/** Busy and total CPU seconds of the whole machine (all cores), from /proc/stat. */
export function machineCpu() {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = line[3] + (line[4] ?? 0);
    const total = line.reduce((a, b) => a + b, 0);
    return { busy: (total - idle) / 100, total: total / 100 };
  } catch {
    return null;
  }
}

/**
 * Starts the built API (`apps/api/dist/main.js`) as a child process on a free port and
 * resolves once it printed its URL. `env` overrides; DATABASE_URL unset means embedded PGlite.
 * BENCH_API_NODE_ARGS (space-separated) goes to its node, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`.
 */
export async function startApi(env, extraNodeArgs = (process.env.BENCH_API_NODE_ARGS ?? '').split(' ').filter(Boolean)) {
  // As `npm start` and infra/docker/Dockerfile run it.
  const nodeArgs = ['--max-semi-space-size=64', ...extraNodeArgs];
  const entry = path.join(root, 'apps/api/dist/main.js');
  if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: run \`npx turbo run build --filter=@tally/api...\` first`);
  const adminToken = `bench-admin-${randomBytes(18).toString('hex')}`;
  const childEnv = { ...process.env, PORT: '0', HOST: '127.0.0.1', TALLY_ADMIN_TOKEN: adminToken, TALLY_DEMO: 'off', LOG_LEVEL: 'warn', NODE_ENV: 'production', ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  const child = spawn(process.execPath, [...nodeArgs, entry], { cwd: root, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
    process.stderr.write(d);
  });
  const port = await new Promise((resolve, reject) => {
    const onData = (d) => {
      out += d;
      const m = /ready at http:\/\/localhost:(\d+)\//.exec(out);
      if (m) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the API exited with code ${code} before listening:\n${out}${err}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    pid: child.pid,
    port,
    baseUrl,
    adminToken,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** One keep-alive connection per client, like a well-behaved producer. */
export function keepAliveAgent(maxSockets = 1) {
  return new http.Agent({ keepAlive: true, maxSockets });
}

/** POSTs a body; resolves with status, headers and the parsed JSON answer. */
export function post(baseUrl, pathname, body, headers, agent) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${baseUrl}${pathname}`,
      { method: 'POST', agent, headers: { 'content-length': Buffer.byteLength(body), ...headers } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = text ? JSON.parse(text) : null;
          } catch {
            json = { raw: text };
          }
          resolve({ status: res.statusCode, headers: res.headers, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function gql(api, query, variables, token = api.adminToken, agent) {
  const res = await post(api.baseUrl, '/graphql', JSON.stringify({ query, variables }), { 'content-type': 'application/json', authorization: `Bearer ${token}` }, agent);
  if (res.status !== 200 || res.json?.errors) throw new Error(`GraphQL failed (${res.status}): ${JSON.stringify(res.json)}`);
  return res.json.data;
}

export async function createSource(api, name) {
  const data = await gql(api, `mutation ($name: String!) { createSource(input: {name: $name, kind: PAYMENT_EVENTS}) { source { id } ingestKey } }`, { name });
  return { id: data.createSource.source.id, ingestKey: data.createSource.ingestKey };
}

/**
 * Deterministic PRNG (the tests' mulberry32, from the db package's build) so that two runs send
 * the same kind of data. Required when first called: the benchmarks build the packages first.
 */
export function rng(seed) {
  return requireFromDb('./dist/testing/index.js').seededRandom(seed);
}

function weighted(entries) {
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let acc = 0;
  const cum = entries.map(([v, w]) => [v, (acc += w / total)]);
  return (r) => {
    for (const [v, c] of cum) if (r < c) return v;
    return cum[cum.length - 1][0];
  };
}

export const CHANNELS = ['ALIPAY', 'WECHAT_PAY', 'UNIONPAY', 'BANK_TRANSFER', 'APPLE_PAY', 'PAYPAL'];
const pickChannel = weighted([['ALIPAY', 35], ['WECHAT_PAY', 30], ['UNIONPAY', 12], ['BANK_TRANSFER', 10], ['APPLE_PAY', 8], ['PAYPAL', 5]]);
const pickCode = weighted([
  ['INSUFFICIENT_FUNDS', 30],
  ['CARD_DECLINED', 20],
  ['RISK_REJECTED', 12],
  ['USER_CANCELLED', 12],
  ['CHANNEL_TIMEOUT', 10],
  ['BANK_UNAVAILABLE', 8],
  ['INVALID_ACCOUNT', 5],
  ['LIMIT_EXCEEDED', 3],
]);

/**
 * `count` payment outcomes in time order, spread evenly (with jitter) over [fromMs, toMs):
 * 65 % PAY_IN, six channels, ~1 % failures over eight codes, unique time-prefixed ids
 * (`<yyyymmddhhmmss><sequence>`, like most providers' trade numbers). Calls `each(event, i)`
 * with `{ id, occurredAtMs, direction, channel, failureCode, amountMinor, currency }`.
 */
export function generateEvents({ count, fromMs, toMs, seed = 42, offset = 0 }, each) {
  const random = rng(seed);
  const span = toMs - fromMs;
  for (let i = 0; i < count; i++) {
    const n = offset + i;
    const t = Math.floor(fromMs + ((i + random()) * span) / count);
    const failed = random() < 0.01;
    const channel = pickChannel(random());
    const stamp = new Date(t).toISOString().replace(/[-:T]/g, '').slice(0, 14);
    each(
      {
        id: `${stamp}${String(n).padStart(10, '0')}`,
        occurredAtMs: t,
        direction: random() < 0.65 ? 'PAY_IN' : 'PAY_OUT',
        channel,
        failureCode: failed ? pickCode(random()) : null,
        amountMinor: 100 + Math.floor(random() * 500_000),
        currency: channel === 'PAYPAL' ? 'USD' : 'CNY',
      },
      i,
    );
  }
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export const fmt = (n, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
