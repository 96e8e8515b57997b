import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { EntityManager } from 'typeorm';
import type { Logger } from 'pino';
import type { Database, Direction, Listener, Notification } from '@tally/db';

/** What changed, by ids and ranges only: each replica recomputes what its subscribers asked for. */
export type ChangeNotice =
  | { topic: 'payments'; directions: Direction[]; from: string; to: string }
  /** An API token or ingest key was revoked: forget cached authentications. */
  | { topic: 'credentials' }
  /** Settings or failure-code attributions changed, or something may have been missed (a reconnect): recompute everything. */
  | { topic: 'resync' };

const CHANNEL = 'tally_changes';

/**
 * Fans change notices out to every API process. On PostgreSQL the notice is a NOTIFY sent
 * inside the writing transaction, so it is delivered — to this process too, through its own
 * LISTEN — exactly when the data commits, and never for a rollback. The embedded database has
 * one process, so notices are delivered in-process after commit.
 */
export class ChangeBus {
  private readonly emitter = new EventEmitter();
  private listener: Listener | null = null;
  /** Sends NOTIFYs without listening (startPublishing): a process with no subscribers of its own. */
  private publishing = false;
  private readonly origin = randomUUID();

  constructor(
    private readonly db: Database,
    private readonly log: Logger,
  ) {
    this.emitter.setMaxListeners(0);
  }

  /**
   * For a process that writes but serves no subscribers (the file import): its commits notify
   * the API processes of the same PostgreSQL database, as the API's own writes do. Nothing on
   * the embedded database, which serves one process at a time.
   */
  startPublishing(): void {
    this.publishing = this.db.kind === 'postgres' && !this.db.singleConnection;
  }

  start(): void {
    this.listener = this.db.listen(
      CHANNEL,
      (payload) => {
        try {
          const { notice } = JSON.parse(payload) as { origin: string; notice: ChangeNotice };
          this.emitter.emit('change', notice);
        } catch (err) {
          this.log.warn({ err }, 'ignoring a malformed change notice');
        }
      },
      () => this.emitter.emit('change', { topic: 'resync' } satisfies ChangeNotice),
    );
  }

  /** Inside the writing transaction. */
  async notifyInTransaction(m: EntityManager, notice: ChangeNotice): Promise<void> {
    const n = this.notification(notice);
    if (n) await m.query('SELECT pg_notify($1, $2)', [n.channel, n.payload]);
  }

  /** The NOTIFY a writer sends inside its own statement (null without a listener: see afterCommit). */
  notification(notice: ChangeNotice): Notification | null {
    return this.listener || this.publishing ? { channel: CHANNEL, payload: JSON.stringify({ origin: this.origin, notice }) } : null;
  }

  /** After the transaction committed. */
  afterCommit(notice: ChangeNotice): void {
    if (!this.listener && !this.publishing) this.emitter.emit('change', notice);
  }

  /**
   * Clears `cache` whenever a notice other than new payments arrives (from any process). The
   * writer also clears its own process's caches right after its commit, since its own NOTIFY
   * comes back through the listener only a moment later.
   */
  clearsOnChange(cache: { clear(): void }): void {
    this.on((n) => {
      if (n.topic !== 'payments') cache.clear();
    });
  }

  on(handler: (notice: ChangeNotice) => void): () => void {
    this.emitter.on('change', handler);
    return () => this.emitter.off('change', handler);
  }

  async stop(): Promise<void> {
    await this.listener?.close();
    this.listener = null;
  }
}
