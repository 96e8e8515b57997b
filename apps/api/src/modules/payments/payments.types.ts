import { Field, Float, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { SafeIntResolver } from 'graphql-scalars';

export enum PaymentDirection {
  PAY_IN = 'PAY_IN',
  PAY_OUT = 'PAY_OUT',
}
registerEnumType(PaymentDirection, {
  name: 'PaymentDirection',
  valuesConfig: { PAY_IN: { description: '入金: money into the platform (collection).' }, PAY_OUT: { description: '出金: money out (disbursement).' } },
});

export enum Granularity {
  MINUTE = 'MINUTE',
  HOUR = 'HOUR',
  DAY = 'DAY',
  WEEK = 'WEEK',
  MONTH = 'MONTH',
}
registerEnumType(Granularity, { name: 'Granularity', description: 'Points of a series, aligned to the organisation calendar (time zone, weeks from Monday).' });

export enum SeriesGroup {
  CHANNEL = 'CHANNEL',
}
registerEnumType(SeriesGroup, { name: 'SeriesGroup' });

export enum FailureAttribution {
  USER = 'USER',
  SYSTEM = 'SYSTEM',
  UNCLASSIFIED = 'UNCLASSIFIED',
}
registerEnumType(FailureAttribution, {
  name: 'FailureAttribution',
  valuesConfig: {
    USER: { description: 'Caused by the user (insufficient balance, wrong password…): excluded from the effective denominator.' },
    SYSTEM: { description: 'The system or the bank channel is accountable: counts against the effective rate.' },
    UNCLASSIFIED: { description: 'Not classified yet: counted against the effective rate (conservative) until someone classifies it.' },
  },
});

/**
 * The counts and rates a window and a series point share. Not a GraphQL type of its own (never
 * referenced, so not emitted): the two object types below inherit its fields.
 */
// simpleResolvers: these are plain data (no field resolvers, no per-field roles), so GraphQL reads
// their properties directly instead of through type-graphql's per-field wrapper — a 30-day
// series by channel resolves ~2,000 such fields (docs/benchmarks.md).
@ObjectType({ simpleResolvers: true })
export class PaymentCounts {
  @Field(() => Date)
  from!: Date;

  @Field(() => Date)
  to!: Date;

  @Field(() => Float, { nullable: true, description: 'succeeded / eligible; null when nothing is eligible.' })
  effectiveRate!: number | null;

  @Field(() => Float, { nullable: true, description: 'succeeded / attempts; null without attempts.' })
  rawRate!: number | null;

  @Field(() => SafeIntResolver)
  attempts!: number;

  @Field(() => SafeIntResolver)
  succeeded!: number;

  @Field(() => SafeIntResolver)
  userFailures!: number;

  @Field(() => SafeIntResolver)
  systemFailures!: number;

  @Field(() => SafeIntResolver)
  unclassifiedFailures!: number;

  @Field(() => SafeIntResolver, { description: 'succeeded + systemFailures + unclassifiedFailures.' })
  eligible!: number;
}

@ObjectType({ simpleResolvers: true, description: 'Payment figures of a window [from, to), from summed counts. Rates are fractions in [0, 1].' })
export class PaymentFigures extends PaymentCounts {
  @Field({ description: 'Eligible attempts below the settings threshold (default 100): the rate is not meaningful yet.' })
  lowVolume!: boolean;

  @Field(() => Date, { nullable: true, description: 'Latest occurredAt ingested in the window.' })
  asOf!: Date | null;
}

@ObjectType({ simpleResolvers: true })
export class PaymentSuccess extends PaymentFigures {
  @Field(() => PaymentFigures, { description: 'The window of equal length just before.' })
  previous!: PaymentFigures;

  @Field(() => Float, { nullable: true, description: 'effectiveRate − previous.effectiveRate, in percentage points.' })
  effectiveRateDelta!: number | null;
}

@ObjectType({ simpleResolvers: true })
export class PaymentSuccessPoint extends PaymentCounts {
  @Field(() => String, { nullable: true, description: 'Null unless grouped by CHANNEL.' })
  channel!: string | null;
}

@ObjectType({ simpleResolvers: true })
export class FailureBreakdownItem {
  @Field()
  code!: string;

  @Field(() => FailureAttribution)
  attribution!: FailureAttribution;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => SafeIntResolver)
  count!: number;

  @Field(() => Float, { description: 'Share of all failures in the window, in [0, 1].' })
  share!: number;
}

@ObjectType({ description: 'A failure code seen in payment outcomes, and who is accountable for it.' })
export class FailureCode {
  @Field()
  code!: string;

  @Field(() => FailureAttribution)
  attribution!: FailureAttribution;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => Date, { nullable: true })
  firstSeenAt!: Date | null;

  @Field(() => Date, { nullable: true })
  lastSeenAt!: Date | null;

  @Field(() => SafeIntResolver)
  count!: number;
}

@InputType()
export class FailureCodeClassificationInput {
  @Field()
  code!: string;

  @Field(() => FailureAttribution)
  attribution!: FailureAttribution;

  @Field(() => String, { nullable: true })
  description?: string | null;
}

@ObjectType({ description: 'Why one event was refused.' })
export class IngestRejection {
  @Field(() => Int, { description: '1-based NDJSON line, array position or CSV record.' })
  line!: number;

  @Field(() => String, { nullable: true })
  id?: string;

  @Field(() => String, { nullable: true, description: 'The field at fault, when one is.' })
  field?: string;

  @Field({ description: 'malformed | invalid | conflict | too_late | future' })
  code!: string;

  @Field()
  reason!: string;
}

@ObjectType()
export class IngestResult {
  @Field(() => Int)
  accepted!: number;

  @Field(() => Int, { description: 'Events already stored with the same content: counted once.' })
  duplicates!: number;

  @Field(() => [IngestRejection], { description: 'The first 10,000 rejected events, in line order (all of them for any batch GraphQL accepts).' })
  rejected!: IngestRejection[];

  @Field(() => Int, { description: 'Every rejected event, listed in `rejected` or not.' })
  rejectedCount!: number;
}

/**
 * Fields are nullable in the schema on purpose: each event is validated on its own and a bad
 * one is rejected alone with its reason, as over HTTP, instead of failing the whole request.
 */
@InputType({ description: 'A payment outcome. Required: id, occurredAt (with offset), direction, channel, status; failureCode exactly when FAILED.' })
export class PaymentOutcomeInput {
  @Field(() => String, { nullable: true })
  id?: string | null;

  @Field(() => String, { nullable: true, description: 'RFC 3339 with an explicit offset, e.g. 2023-01-13T07:36:00+08:00.' })
  occurredAt?: string | null;

  @Field(() => String, { nullable: true, description: 'PAY_IN or PAY_OUT.' })
  direction?: string | null;

  @Field(() => String, { nullable: true })
  channel?: string | null;

  @Field(() => String, { nullable: true, description: 'SUCCEEDED or FAILED.' })
  status?: string | null;

  @Field(() => String, { nullable: true })
  failureCode?: string | null;

  @Field(() => Float, { nullable: true, description: 'Amount in minor units (fen, cents): a non-negative integer.' })
  amountMinor?: number | null;

  @Field(() => String, { nullable: true, description: 'ISO 4217.' })
  currency?: string | null;
}
