import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export const ATTRIBUTIONS = ['USER', 'SYSTEM', 'UNCLASSIFIED'] as const;
export type AttributionName = (typeof ATTRIBUTIONS)[number];

/** A failure code seen in payment outcomes, and who is accountable for it (applied at read time). */
@Entity({ name: 'failure_codes' })
export class FailureCodeEntity {
  @PrimaryColumn({ type: 'text' })
  code!: string;

  @Column({ type: 'text' })
  attribution!: AttributionName;

  @Column({ type: 'text', nullable: true })
  description!: string | null;

  @Column({ name: 'first_seen_at', type: 'timestamptz', nullable: true })
  firstSeenAt!: Date | null;

  @Column({ name: 'last_seen_at', type: 'timestamptz', nullable: true })
  lastSeenAt!: Date | null;

  /** bigint arrives as a string from pg. */
  @Column({ type: 'bigint' })
  events!: string;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
