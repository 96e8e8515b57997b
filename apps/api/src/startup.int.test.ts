import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

// The built entry point, as `npm start` runs it (turbo builds it before these tests).
const MAIN = path.resolve(__dirname, '../dist/main.js');
// Run alone (npx vitest), the test would start whatever was built last.
const newestSource = (dir: string): number =>
  Math.max(
    0,
    ...fs.readdirSync(dir, { withFileTypes: true }).map((e) => {
      const p = path.join(dir, e.name);
      return e.isDirectory() ? newestSource(p) : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? fs.statSync(p).mtimeMs : 0;
    }),
  );
if (fs.statSync(MAIN, { throwIfNoEntry: false }) === undefined || fs.statSync(MAIN).mtimeMs < newestSource(__dirname)) {
  throw new Error(`${MAIN} is missing or older than the API's sources: build first (npx turbo run build --filter=@tally/api...)`);
}

interface Started {
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  kill: (signal: NodeJS.Signals) => void;
}

const children: Started[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill('SIGKILL');
    await c.exited;
  }
});

/** Starts the API on the embedded database in `dataDir`, without a chosen ADMIN token. */
function start(dataDir: string, port: number, demo: 'on' | 'off'): Started {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', TALLY_DATA_DIR: dataDir, TALLY_DEMO: demo, LOG_LEVEL: 'warn' };
  for (const k of ['DATABASE_URL', 'TALLY_ADMIN_TOKEN', 'NODE_ENV']) delete env[k];
  const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const started: Started = {
    stdout: () => out,
    stderr: () => err,
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    kill: (signal) => void child.kill(signal),
  };
  children.push(started);
  return started;
}

async function until(ok: () => boolean, ms: number): Promise<void> {
  for (const end = Date.now() + ms; !ok(); ) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });

describe('starting the API', () => {
  it('says at once, in one line, that the port is taken, before touching the database', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as net.AddressInfo).port;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-start-'));
    try {
      const t0 = Date.now();
      const api = start(path.join(dataDir, 'db'), port, 'on');
      expect(await api.exited).toBe(1);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(api.stderr()).toBe(`tally: cannot start: port ${port} is already in use (set PORT)\n`);
      expect(fs.existsSync(path.join(dataDir, 'db'))).toBe(false);
    } finally {
      taken.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('still shows the generated ADMIN token when the first start was stopped before it listened', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-start-'));
    try {
      // Stopped during the demo load (Ctrl-C before it answers), as a new user might.
      const first = start(dataDir, await freePort(), 'on');
      await until(() => /Loading the demo quarter/.test(first.stdout()), 60_000);
      first.kill('SIGINT');
      await first.exited;
      expect(first.stdout()).not.toMatch(/ADMIN token/);

      const second = start(dataDir, await freePort(), 'off');
      await until(() => /ready at/.test(second.stdout()) || second.stderr() !== '', 60_000);
      await until(() => /use it as "Authorization: Bearer <token>"/.test(second.stdout()), 5_000);
      expect(second.stdout()).toMatch(/first start: an ADMIN token was generated/);
      const token = /It is shown only now; store it:\n\s+(\S+)/.exec(second.stdout())?.[1];
      expect(token).toBeTruthy();
      second.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
