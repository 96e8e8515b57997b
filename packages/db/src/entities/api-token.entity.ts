import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** Roles in ascending order of power: each one includes the ones before it. */
export const ROLES = ['VIEWER', 'EDITOR', 'ADMIN'] as const;
export type RoleName = (typeof ROLES)[number];

/**
 * An API token. Only the SHA-256 of the secret is stored: secrets are 256-bit random,
 * so a fast hash is enough (no dictionary to attack) and lets every request find its
 * token by one indexed lookup.
 */
@Entity({ name: 'api_tokens' })
export class ApiTokenEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ type: 'text' })
  role!: RoleName;

  @Index({ unique: true })
  @Column({ name: 'secret_hash', type: 'text' })
  secretHash!: string;

  /** The first characters of the secret, so people can tell tokens apart without the secret. */
  @Column({ name: 'secret_prefix', type: 'text' })
  secretPrefix!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'created_by', type: 'uuid', nullable: true })
  createdBy!: string | null;

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt!: Date | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;
}
