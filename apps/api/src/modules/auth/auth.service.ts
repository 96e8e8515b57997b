import type { DataSource, Repository } from 'typeorm';
import { IsNull } from 'typeorm';
import { ApiTokenEntity } from '@tally/db';
import { BadInputError, NotFoundError, UnauthenticatedError } from '../../errors/app-errors.js';
import type { ChangeBus } from '../../changes/change-bus.js';
import { ProcessCache } from '../../changes/process-cache.js';
import { Role } from './role.js';
import { generateSecret, hashSecret, INGEST_KEY_PREFIX, parseBearer, secretPrefix } from './token-secret.js';

/** Who is calling: resolved from the token on every request. */
export interface Principal {
  tokenId: string;
  name: string;
  role: Role;
}

export type Authentication = { principal: Principal } | { principal: null; failure?: string };

// Writing last_used_at on every request would turn every read into a write; a minute is
// precise enough to see which tokens are alive.
const LAST_USED_RESOLUTION_MS = 60_000;

/** A token as authentication needs it; `lastUsedAt` is when this process last wrote it. */
interface KnownToken {
  principal: Readonly<Principal>;
  revoked: boolean;
  lastUsedAt: number;
}

export class AuthService {
  private readonly tokens: Repository<ApiTokenEntity>;
  /**
   * Live tokens by secret hash (unknown and revoked ones are looked up every time, so
   * guessing cannot fill memory). A revocation clears it in every process (see ProcessCache).
   */
  private readonly known = new ProcessCache<string, KnownToken | null>({ maxAgeMs: 30_000, maxEntries: 10_000 });

  constructor(
    dataSource: DataSource,
    private readonly changes: ChangeBus,
  ) {
    this.tokens = dataSource.getRepository(ApiTokenEntity);
    changes.clearsOnChange(this.known);
  }

  /** Resolves an Authorization header. Unknown or revoked tokens are a failure, not an exception. */
  async authenticate(header: unknown): Promise<Authentication> {
    const parsed = parseBearer(header);
    if (parsed.ok === null) return { principal: null };
    if (!parsed.ok) return { principal: null, failure: parsed.reason };
    const secretHash = hashSecret(parsed.secret);
    const token = await this.known.get(
      secretHash,
      async (): Promise<KnownToken | null> => {
        const row = await this.tokens.findOne({ where: { secretHash } });
        if (!row) return null;
        return { principal: { tokenId: row.id, name: row.name, role: row.role as Role }, revoked: !!row.revokedAt, lastUsedAt: row.lastUsedAt?.getTime() ?? 0 };
      },
      (t) => t !== null && !t.revoked,
    );
    if (!token) {
      // A common mix-up, recognisable by its prefix: say which mistake this is.
      if (parsed.secret.startsWith(INGEST_KEY_PREFIX)) {
        return { principal: null, failure: 'an ingest key only pushes events (POST /v1/ingest/…); GraphQL needs an API token' };
      }
      return { principal: null, failure: 'invalid token' };
    }
    if (token.revoked) return { principal: null, failure: 'token revoked' };
    const now = Date.now();
    if (now - token.lastUsedAt > LAST_USED_RESOLUTION_MS) {
      token.lastUsedAt = now;
      await this.tokens.update({ id: token.principal.tokenId }, { lastUsedAt: new Date(now) });
    }
    return { principal: { ...token.principal } };
  }

  /** Like `authenticate` but throws UNAUTHENTICATED, for transports that need a principal. */
  async requirePrincipal(header: unknown): Promise<Principal> {
    const auth = await this.authenticate(header);
    if (!auth.principal) throw new UnauthenticatedError(auth.failure ? `authentication failed: ${auth.failure}` : undefined);
    return auth.principal;
  }

  /** Creates a token; the secret is returned once and only its hash is kept. */
  async createToken(input: { name: string; role: Role }, createdBy: string | null): Promise<{ token: ApiTokenEntity; secret: string }> {
    const name = input.name.trim();
    if (name.length < 1 || name.length > 100) throw new BadInputError('name', 'must be 1 to 100 characters');
    const secret = generateSecret();
    const token = await this.tokens.save(
      this.tokens.create({ name, role: input.role, secretHash: hashSecret(secret), secretPrefix: secretPrefix(secret), createdBy }),
    );
    return { token, secret };
  }

  list(): Promise<ApiTokenEntity[]> {
    return this.tokens.find({ order: { createdAt: 'ASC' } });
  }

  async revoke(id: string): Promise<ApiTokenEntity> {
    const token = await this.tokens.findOne({ where: { id } });
    if (!token) throw new NotFoundError('API token', id);
    if (!token.revokedAt) {
      token.revokedAt = new Date();
      await this.tokens.manager.transaction(async (m) => {
        await m.getRepository(ApiTokenEntity).save(token);
        await this.changes.notifyInTransaction(m, { topic: 'credentials' });
      });
      // This process at once; the others when the notice arrives.
      this.known.clear();
      this.changes.afterCommit({ topic: 'credentials' });
    }
    return token;
  }

  /**
   * Makes sure someone can administer a new installation. With `configured` (TALLY_ADMIN_TOKEN)
   * that secret becomes a live ADMIN token; without it, the very first start generates one
   * and returns it so it can be printed once.
   */
  async ensureBootstrapAdmin(configured: string | undefined): Promise<{ generatedSecret?: string }> {
    if (configured) {
      const secretHash = hashSecret(configured);
      const existing = await this.tokens.findOne({ where: { secretHash } });
      if (!existing) {
        await this.tokens.save(
          this.tokens.create({ name: 'bootstrap admin (TALLY_ADMIN_TOKEN)', role: Role.ADMIN, secretHash, secretPrefix: secretPrefix(configured), createdBy: null }),
        );
      }
      return {};
    }
    const count = await this.tokens.count();
    if (count > 0) return {};
    const { secret } = await this.createToken({ name: 'bootstrap admin', role: Role.ADMIN }, null);
    return { generatedSecret: secret };
  }

  /** Active ADMIN tokens, so revoking the last one can be refused. */
  activeAdmins(): Promise<number> {
    return this.tokens.count({ where: { role: Role.ADMIN, revokedAt: IsNull() } });
  }
}
