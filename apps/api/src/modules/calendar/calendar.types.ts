import { Field, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DateScalar } from '../../graphql/scalars.js';

export enum PeriodKind {
  DAY = 'DAY',
  WEEK = 'WEEK',
  MONTH = 'MONTH',
  QUARTER = 'QUARTER',
  YEAR = 'YEAR',
  YEAR_TO_DATE = 'YEAR_TO_DATE',
}
registerEnumType(PeriodKind, { name: 'PeriodKind' });

@ObjectType({ description: 'A reporting week: Monday to Sunday in the organisation\'s time zone, numbered by its week rule.' })
export class Week {
  @Field(() => Int, { description: 'The year the week belongs to (of its Sunday under FIRST_DAY, of its Thursday under ISO_8601).' })
  year!: number;

  @Field(() => Int)
  number!: number;

  @Field(() => DateScalar, { description: 'Local date of the Monday.' })
  startDate!: string;

  @Field(() => DateScalar, { description: 'Local date of the Sunday (inclusive).' })
  endDate!: string;

  @Field(() => Date, { description: 'Instant the week starts (local Monday 00:00), inclusive.' })
  startsAt!: Date;

  @Field(() => Date, { description: 'Instant the next week starts, exclusive.' })
  endsAt!: Date;
}

@ObjectType({ description: 'A calendar period in the organisation\'s time zone; the window is half-open [startsAt, endsAt).' })
export class Period {
  @Field(() => PeriodKind)
  kind!: PeriodKind;

  @Field(() => DateScalar)
  startDate!: string;

  @Field(() => DateScalar, { description: 'Last local date included.' })
  endDate!: string;

  @Field(() => Date)
  startsAt!: Date;

  @Field(() => Date)
  endsAt!: Date;
}
