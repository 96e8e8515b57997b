import { Field, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';

export enum WeekRule {
  FIRST_DAY = 'FIRST_DAY',
  ISO_8601 = 'ISO_8601',
}

registerEnumType(WeekRule, {
  name: 'WeekRule',
  description: 'How weeks are numbered. Weeks always run Monday to Sunday.',
  valuesConfig: {
    FIRST_DAY: { description: 'Week 1 is the week containing 1 January; a week belongs to the year of its Sunday.' },
    ISO_8601: { description: 'ISO 8601: week 1 contains the year\'s first Thursday; a week belongs to the year of its Thursday.' },
  },
});

@ObjectType({ description: 'Organisation settings: one reporting calendar for queries, reports and subscriptions.' })
export class Settings {
  @Field({ description: 'IANA time zone of the reporting calendar, e.g. Asia/Shanghai.' })
  timeZone!: string;

  @Field(() => WeekRule)
  weekRule!: WeekRule;

  @Field({ description: 'Language of labels and reports: zh-CN or en.' })
  locale!: string;

  @Field(() => Int, { description: 'Below this many eligible attempts a success rate is flagged lowVolume.' })
  lowVolumeThreshold!: number;

  @Field(() => Int, { description: 'Pushed events older than this many days are rejected as too_late (the file import can backfill).' })
  lateHorizonDays!: number;

  @Field(() => Date)
  updatedAt!: Date;
}

@InputType({ description: 'Fields to change; omitted fields keep their value.' })
export class UpdateSettingsInput {
  @Field({ nullable: true })
  timeZone?: string;

  @Field(() => WeekRule, { nullable: true })
  weekRule?: WeekRule;

  @Field({ nullable: true })
  locale?: string;

  @Field(() => Int, { nullable: true })
  lowVolumeThreshold?: number;

  @Field(() => Int, { nullable: true })
  lateHorizonDays?: number;
}
