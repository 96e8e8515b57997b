import { randomBytes } from 'node:crypto';
import type { DataSource, Repository } from 'typeorm';
import { isUniqueViolation, SourceEntity, SourceKeyEntity, type SourceKind } from '@tally/db';
import { BadInputError, ConflictError, NotFoundError } from '../../errors/app-errors.js';
import { hashSecret, INGEST_KEY_PREFIX, parseBearer } from '../auth/token-secret.js';
import type { ChangeBus } from '../../changes/change-bus.js';
import { ProcessCache } from '../../changes/process-cache.js';

/** Why an ingest request is refused before its body is read. */
export type IngestAuthFailure = { status: 401 | 403; message: string };

export interface SourceActivityRow {
  sourceId: string;
  accepted: number;
  duplicates: number;
  rejected: number;
}

/** An ingest key as authentication needs it. */
interface KnownKey {
  source: SourceEntity;
  revoked: boolean;
}

export class SourcesService {
  /**
   * Live ingest keys by hash, with their source: every batch of a busy source would otherwise
   * start with two lookups. Unknown and revoked keys are looked up every time; a rotation
   * clears it in every process (see ProcessCache).
   */
  private readonly keys = new ProcessCache<string, KnownKey | null>({ maxAgeMs: 30_000, maxEntries: 10_000 });

  constructor(
    private readonly ds: DataSource,
    private readonly changes: ChangeBus,
  ) {
    changes.clearsOnChange(this.keys);
  }

  /** Creates a source and its first ingest key (returned once, stored hashed). */
  async create(input: { name: string; kind: SourceKind }): Promise<{ source: SourceEntity; ingestKey: string }> {
    const name = input.name.trim();
    if (name.length < 1 || name.length > 100) throw new BadInputError('name', 'must be 1 to 100 characters');
    const taken = () => new ConflictError(`a source named "${name}" already exists`);
    try {
      return await this.ds.transaction(async (m) => {
        if (await m.getRepository(SourceEntity).findOneBy({ name })) throw taken();
        const source = await m.getRepository(SourceEntity).save(m.getRepository(SourceEntity).create({ name, kind: input.kind }));
        const ingestKey = await this.issueKey(m.getRepository(SourceKeyEntity), source.id);
        return { source, ingestKey };
      });
    } catch (err) {
      // Two concurrent creations both pass the check above; the unique name decides.
      if (isUniqueViolation(err, 'sources_name_key')) throw taken();
      throw err;
    }
  }

  /** Issues a new key and revokes the previous ones at once. */
  async rotateKey(id: string): Promise<{ source: SourceEntity; ingestKey: string }> {
    if (!UUID.test(id)) throw new NotFoundError('source', id);
    const rotated = await this.ds.transaction(async (m) => {
      const source = await m.getRepository(SourceEntity).findOneBy({ id });
      if (!source) throw new NotFoundError('source', id);
      await m.query(`UPDATE source_keys SET revoked_at = now() WHERE source_id = $1 AND revoked_at IS NULL`, [id]);
      const ingestKey = await this.issueKey(m.getRepository(SourceKeyEntity), id);
      await this.changes.notifyInTransaction(m, { topic: 'credentials' });
      return { source, ingestKey };
    });
    // This process at once; the others when the notice arrives.
    this.keys.clear();
    this.changes.afterCommit({ topic: 'credentials' });
    return rotated;
  }

  private async issueKey(repo: Repository<SourceKeyEntity>, sourceId: string): Promise<string> {
    const key = INGEST_KEY_PREFIX + randomBytes(32).toString('base64url');
    await repo.save(repo.create({ sourceId, keyHash: hashSecret(key), keyPrefix: key.slice(0, INGEST_KEY_PREFIX.length + 6) }));
    return key;
  }

  list(): Promise<SourceEntity[]> {
    return this.ds.getRepository(SourceEntity).find({ order: { createdAt: 'ASC' } });
  }

  async get(id: string): Promise<SourceEntity> {
    const source = UUID.test(id) ? await this.ds.getRepository(SourceEntity).findOneBy({ id }) : null;
    if (!source) throw new NotFoundError('source', id);
    return source;
  }

  /**
   * Resolves `Authorization: Bearer <ingest key>` for an ingest endpoint of `kind`. Unknown or
   * missing: 401. Revoked (rotated), another kind's, or not the source the request names: 403.
   */
  async authenticateIngest(header: unknown, kind: SourceKind, namedSource?: string): Promise<{ source: SourceEntity } | IngestAuthFailure> {
    const bearer = parseBearer(header);
    if (!bearer.ok) return { status: 401, message: bearer.ok === null ? 'send "Authorization: Bearer <ingest key>"' : bearer.reason };
    const keyHash = hashSecret(bearer.secret);
    const key = await this.keys.get(
      keyHash,
      async (): Promise<KnownKey | null> => {
        const rows: { source_id: string; revoked_at: Date | null }[] = await this.ds.query(`SELECT source_id, revoked_at FROM source_keys WHERE key_hash = $1`, [keyHash]);
        const row = rows[0];
        return row ? { source: await this.get(row.source_id), revoked: row.revoked_at !== null } : null;
      },
      (k) => k !== null && !k.revoked,
    );
    if (!key) return { status: 401, message: 'unknown ingest key' };
    if (key.revoked) return { status: 403, message: 'this ingest key was revoked (rotated); use the current key' };
    const { source } = key;
    if (source.kind !== kind) return { status: 403, message: `this key belongs to a ${source.kind} source and cannot ingest here` };
    // The source may be named by id (in any case, as UUIDs are compared) or by name (what a
    // sender's configuration is likely to hold).
    if (namedSource && namedSource.toLowerCase() !== source.id && namedSource !== source.name) {
      return { status: 403, message: `this key belongs to another source than "${namedSource}" (X-Tally-Source takes the source's id or name)` };
    }
    return { source };
  }

  /** Accepted / duplicate / rejected events of the last 24 h for the given sources, one query. */
  async activity(sourceIds: readonly string[]): Promise<Map<string, SourceActivityRow>> {
    const rows: { source_id: string; accepted: string; duplicates: string; rejected: string }[] = await this.ds.query(
      `SELECT source_id, sum(accepted)::text AS accepted, sum(duplicates)::text AS duplicates, sum(rejected)::text AS rejected
         FROM source_ingest_stats
        WHERE source_id = ANY($1::uuid[]) AND hour > date_bin('1 hour', now() - interval '24 hours', timestamptz '2000-01-01 00:00:00+00')
        GROUP BY source_id`,
      [sourceIds],
    );
    return new Map(
      rows.map((r) => [r.source_id, { sourceId: r.source_id, accepted: Number(r.accepted), duplicates: Number(r.duplicates), rejected: Number(r.rejected) }]),
    );
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
