import { Field, Float, ObjectType, registerEnumType } from 'type-graphql';

export enum MetricPeriod {
  DAY = 'DAY',
  WEEK = 'WEEK',
  MONTH = 'MONTH',
  YEAR = 'YEAR',
}
registerEnumType(MetricPeriod, { name: 'MetricPeriod', description: 'A calendar period of the organisation (time zone, weeks from Monday).' });

// Plain data read directly by GraphQL (see PaymentCounts).
@ObjectType({ simpleResolvers: true })
export class MetricValue {
  @Field(() => Float, { nullable: true, description: 'Null when undefined (a rate with nothing eligible).' })
  value!: number | null;

  @Field(() => Float)
  numerator!: number;

  @Field(() => Float, { nullable: true, description: 'Null for counts.' })
  denominator!: number | null;

  @Field(() => Date, { nullable: true, description: 'Latest event time in the window.' })
  asOf!: Date | null;
}

@ObjectType({ simpleResolvers: true })
export class MetricPoint {
  @Field(() => Date)
  from!: Date;

  @Field(() => Date)
  to!: Date;

  @Field(() => Float, { nullable: true })
  value!: number | null;

  @Field(() => Float)
  numerator!: number;

  @Field(() => Float, { nullable: true })
  denominator!: number | null;
}

@ObjectType({ description: 'A metric by stable key, readable over any window and subscribable.' })
export class Metric {
  @Field()
  key!: string;

  @Field()
  name!: string;

  @Field()
  description!: string;

  @Field({ description: 'ratio (a fraction in [0, 1]) or count.' })
  unit!: string;
}

@ObjectType()
export class PeriodWindow {
  @Field(() => Date)
  from!: Date;

  @Field(() => Date)
  to!: Date;
}

@ObjectType({ description: 'A metric of the current calendar period: first its value on subscribing, then each change.' })
export class MetricUpdate {
  @Field()
  key!: string;

  @Field(() => PeriodWindow)
  period!: PeriodWindow;

  @Field(() => Float, { nullable: true })
  value!: number | null;

  @Field(() => Float, { nullable: true, description: 'The value in the previous message of this subscription (null in the first).' })
  previousValue!: number | null;

  @Field(() => Float)
  numerator!: number;

  @Field(() => Float, { nullable: true })
  denominator!: number | null;

  @Field(() => Date, { description: 'When the value was computed.' })
  at!: Date;
}
