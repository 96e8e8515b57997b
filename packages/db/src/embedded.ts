import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/** A running embedded PostgreSQL (PGlite) reachable over a private Unix socket. */
export interface EmbeddedServer {
  /** Directory holding the socket `.s.PGSQL.5432`; a `postgres://…?host=<dir>` URL reaches it. */
  socketDir: string;
  socketPath: string;
  url: string;
  stop(): Promise<void>;
}

export class DatabaseLockedError extends Error {
  readonly code = 'DATABASE_LOCKED';
}

// Unix socket paths are limited to ~107 bytes; deep data directories fall back to a temp dir.
const MAX_SOCKET_PATH = 100;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite's data directory must never be opened by two processes (it is one Postgres
 * backend without a postmaster): a pid file refuses the second one with a clear message.
 */
function takeLock(dataDir: string): () => void {
  const lockFile = path.join(dataDir, 'tally.pid');
  try {
    fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const holder = Number(fs.readFileSync(lockFile, 'utf8').trim());
    if (Number.isInteger(holder) && holder !== process.pid && alive(holder)) {
      throw new DatabaseLockedError(
        `the embedded database in ${dataDir} is in use by another Tally process (pid ${holder})`,
      );
    }
    fs.writeFileSync(lockFile, String(process.pid));
  }
  return () => {
    try {
      if (fs.readFileSync(lockFile, 'utf8').trim() === String(process.pid)) fs.unlinkSync(lockFile);
    } catch {
      // already gone
    }
  };
}

/**
 * Starts PGlite (persisted in `dataDir`, or in memory when `dataDir` is null) and serves it
 * on a Unix socket so that the ordinary `pg` driver — the same code path as a real server —
 * talks to it. PGlite is a single session: callers must use exactly one connection.
 */
export async function startEmbeddedServer(dataDir: string | null): Promise<EmbeddedServer> {
  let release = () => {};
  let socketDir: string;
  let db: PGlite;
  if (dataDir) {
    const dir = path.resolve(dataDir);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    release = takeLock(dir);
    socketDir = path.join(dir, 'run');
    db = await PGlite.create({ dataDir: path.join(dir, 'pgdata') });
  } else {
    socketDir = '';
    db = await PGlite.create();
  }
  if (!socketDir || path.join(socketDir, '.s.PGSQL.5432').length > MAX_SOCKET_PATH) {
    socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-pg-'));
  }
  fs.mkdirSync(socketDir, { recursive: true, mode: 0o700 });
  const socketPath = path.join(socketDir, '.s.PGSQL.5432');
  fs.rmSync(socketPath, { force: true }); // left over by a process that was killed
  const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: 1 });
  try {
    await server.start();
  } catch (err) {
    await db.close();
    release();
    throw err;
  }
  return {
    socketDir,
    socketPath,
    url: `postgres://postgres@localhost/postgres?host=${encodeURIComponent(socketDir)}`,
    async stop() {
      await server.stop();
      await db.close();
      fs.rmSync(socketPath, { force: true });
      release();
    },
  };
}
