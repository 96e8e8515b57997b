import { randomBytes } from 'node:crypto';
import type { DataSource, Repository } from 'typeorm';
import { SourceEntity, SourceKeyEntity, type SourceKind } from '@tally/db';
import { BadInputError, ConflictError, NotFoundError } from '../../errors/app-errors.js';
import { hashSecret, parseBearer } from '../auth/token-secret.js';

// Distinct from API tokens (tly_) so a key pasted in the wrong place is recognisable.
const KEY_PREFIX = 'tik_';

/** Why an ingest request is refused before its body is read. */
export type IngestAuthFailure = { status: 401 | 403; message: string };

export interface SourceActivityRow {
  sourceId: string;
  accepted: number;
  duplicates: number;
  rejected: number;
}

export class SourcesService {
  constructor(private readonly ds: DataSource) {}

  /** Creates a source and its first ingest key (returned once, stored hashed). */
  async create(input: { name: string; kind: SourceKind }): Promise<{ source: SourceEntity; ingestKey: string }> {
    const name = input.name.trim();
    if (name.length < 1 || name.length > 100) throw new BadInputError('name', 'must be 1 to 100 characters');
    return this.ds.transaction(async (m) => {
      const exists = await m.getRepository(SourceEntity).findOneBy({ name });
      if (exists) throw new ConflictError(`a source named "${name}" already exists`);
      const source = await m.getRepository(SourceEntity).save(m.getRepository(SourceEntity).create({ name, kind: input.kind }));
      const ingestKey = await this.issueKey(m.getRepository(SourceKeyEntity), source.id);
      return { source, ingestKey };
    });
  }

  /** Issues a new key and revokes the previous ones at once. */
  async rotateKey(id: string): Promise<{ source: SourceEntity; ingestKey: string }> {
    return this.ds.transaction(async (m) => {
      const source = await m.getRepository(SourceEntity).findOneBy({ id });
      if (!source) throw new NotFoundError('source', id);
      await m.query(`UPDATE source_keys SET revoked_at = now() WHERE source_id = $1 AND revoked_at IS NULL`, [id]);
      const ingestKey = await this.issueKey(m.getRepository(SourceKeyEntity), id);
      return { source, ingestKey };
    });
  }

  private async issueKey(repo: Repository<SourceKeyEntity>, sourceId: string): Promise<string> {
    const key = KEY_PREFIX + randomBytes(32).toString('base64url');
    await repo.save(repo.create({ sourceId, keyHash: hashSecret(key), keyPrefix: key.slice(0, KEY_PREFIX.length + 6) }));
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
    const rows: (SourceEntity & { revoked_at: Date | null })[] = await this.ds.query(
      `SELECT s.id, s.name, s.kind, k.revoked_at FROM source_keys k JOIN sources s ON s.id = k.source_id WHERE k.key_hash = $1`,
      [hashSecret(bearer.secret)],
    );
    const row = rows[0];
    if (!row) return { status: 401, message: 'unknown ingest key' };
    if (row.revoked_at) return { status: 403, message: 'this ingest key was revoked (rotated); use the current key' };
    if (row.kind !== kind) return { status: 403, message: `this key belongs to a ${row.kind} source and cannot ingest here` };
    if (namedSource && namedSource !== row.id) return { status: 403, message: 'this key belongs to another source' };
    const source = await this.get(row.id);
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
