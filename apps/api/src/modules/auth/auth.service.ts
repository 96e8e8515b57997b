import type { DataSource, Repository } from 'typeorm';
import { IsNull } from 'typeorm';
import { ApiTokenEntity } from '@tally/db';
import { BadInputError, NotFoundError, UnauthenticatedError } from '../../errors/app-errors.js';
import { Role } from './role.js';
import { generateSecret, hashSecret, parseBearer, secretPrefix } from './token-secret.js';

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

export class AuthService {
  private readonly tokens: Repository<ApiTokenEntity>;

  constructor(dataSource: DataSource) {
    this.tokens = dataSource.getRepository(ApiTokenEntity);
  }

  /** Resolves an Authorization header. Unknown or revoked tokens are a failure, not an exception. */
  async authenticate(header: unknown): Promise<Authentication> {
    const parsed = parseBearer(header);
    if (parsed.ok === null) return { principal: null };
    if (!parsed.ok) return { principal: null, failure: parsed.reason };
    const token = await this.tokens.findOne({ where: { secretHash: hashSecret(parsed.secret) } });
    if (!token) return { principal: null, failure: 'invalid token' };
    if (token.revokedAt) return { principal: null, failure: 'token revoked' };
    if (!token.lastUsedAt || Date.now() - token.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      await this.tokens.update({ id: token.id }, { lastUsedAt: new Date() });
    }
    return { principal: { tokenId: token.id, name: token.name, role: token.role as Role } };
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
      await this.tokens.save(token);
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
