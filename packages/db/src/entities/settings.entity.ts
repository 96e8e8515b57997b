import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/**
 * Organisation settings: exactly one row (id = 1), created by the migration, so reads
 * never have to handle "no settings yet".
 */
@Entity({ name: 'settings' })
export class SettingsEntity {
  @PrimaryColumn({ type: 'smallint' })
  id!: number;

  @Column({ name: 'time_zone', type: 'text' })
  timeZone!: string;

  @Column({ name: 'week_rule', type: 'text' })
  weekRule!: 'FIRST_DAY' | 'ISO_8601';

  @Column({ type: 'text' })
  locale!: 'zh-CN' | 'en';

  /** Below this many eligible attempts a rate is flagged `lowVolume`. */
  @Column({ name: 'low_volume_threshold', type: 'integer' })
  lowVolumeThreshold!: number;

  /** Pushed events older than this are rejected as too late (file import may backfill). */
  @Column({ name: 'late_horizon_days', type: 'integer' })
  lateHorizonDays!: number;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
