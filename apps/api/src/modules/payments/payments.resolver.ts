import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { assertWindow, previousWindow, rateDeltaPoints } from '@tally/domain';
import type { FailureCodeEntity } from '@tally/db';
import type { Context } from '../../context.js';
import { BadInputError } from '../../errors/app-errors.js';
import { Role } from '../auth/role.js';
import { readContext } from './read-context.js';
import {
  FailureBreakdownItem,
  FailureCode,
  FailureCodeClassificationInput,
  Granularity,
  IngestResult,
  PaymentDirection,
  PaymentOutcomeInput,
  PaymentSuccess,
  PaymentSuccessPoint,
  SeriesGroup,
} from './payments.types.js';

export const MAX_GRAPHQL_EVENTS = 1_000;

function toFailureCode(e: FailureCodeEntity): FailureCode {
  return {
    code: e.code,
    attribution: e.attribution as FailureCode['attribution'],
    description: e.description,
    firstSeenAt: e.firstSeenAt,
    lastSeenAt: e.lastSeenAt,
    count: Number(e.events),
  };
}

@Resolver()
export class PaymentsResolver {
  @Authorized(Role.VIEWER)
  @Query(() => PaymentSuccess, { description: 'Effective and raw success rates over [from, to) (whole minutes), with the previous window of equal length.' })
  async paymentSuccess(
    @Arg('direction', () => PaymentDirection) direction: PaymentDirection,
    @Arg('from', () => Date) from: Date,
    @Arg('to', () => Date) to: Date,
    @Ctx() ctx: Context,
    @Arg('channel', () => String, { nullable: true }) channel?: string | null,
  ): Promise<PaymentSuccess> {
    // Checked here, before the previous window is derived from it: errors name these arguments.
    assertWindow(from, to);
    const before = previousWindow({ startsAt: from, endsAt: to });
    // Through the request's loader: aliases and metrics asking for the same window share a read.
    const [current, previous] = await Promise.all([
      ctx.loaders.paymentFigures.load({ direction, from, to, channel }),
      ctx.loaders.paymentFigures.load({ direction, from: before.startsAt, to: before.endsAt, channel }),
    ]);
    return { ...current, previous, effectiveRateDelta: rateDeltaPoints(current.effectiveRate, previous.effectiveRate) };
  }

  @Authorized(Role.VIEWER)
  @Query(() => [PaymentSuccessPoint], { description: 'A series aligned to the organisation calendar; MINUTE only for windows up to 48 h; at most 5,000 points.' })
  async paymentSuccessSeries(
    @Arg('direction', () => PaymentDirection) direction: PaymentDirection,
    @Arg('from', () => Date) from: Date,
    @Arg('to', () => Date) to: Date,
    @Arg('granularity', () => Granularity) granularity: Granularity,
    @Ctx() ctx: Context,
    @Arg('groupBy', () => [SeriesGroup], { nullable: true, defaultValue: [] }) groupBy: SeriesGroup[],
  ): Promise<PaymentSuccessPoint[]> {
    const rc = await readContext(ctx);
    const points = await ctx.services.paymentMetrics.series(direction, { startsAt: from, endsAt: to }, granularity, groupBy.includes(SeriesGroup.CHANNEL), rc);
    ctx.loaders.pointBudget.spend(points.length);
    return points;
  }

  @Authorized(Role.VIEWER)
  @Query(() => [FailureBreakdownItem], { description: 'Failures of the window by code, largest first.' })
  async paymentFailureBreakdown(
    @Arg('direction', () => PaymentDirection) direction: PaymentDirection,
    @Arg('from', () => Date) from: Date,
    @Arg('to', () => Date) to: Date,
    @Ctx() ctx: Context,
    @Arg('channel', () => String, { nullable: true }) channel?: string | null,
    @Arg('first', () => Int, { nullable: true, defaultValue: 10 }) first = 10,
  ): Promise<FailureBreakdownItem[]> {
    if (first < 1 || first > 1000) throw new BadInputError('first', 'must be between 1 and 1000');
    const rc = await readContext(ctx);
    const codes = await ctx.loaders.failureCodes.load(1);
    const items = await ctx.services.paymentMetrics.breakdown(direction, { startsAt: from, endsAt: to }, channel ?? null, first, rc);
    return items.map((i) => ({ ...i, attribution: i.attribution as FailureBreakdownItem['attribution'], description: codes.get(i.code)?.description ?? null }));
  }

  @Authorized(Role.VIEWER)
  @Query(() => [FailureCode], { description: 'Every failure code seen or classified; UNCLASSIFIED ones need someone to classify them.' })
  async failureCodes(@Ctx() ctx: Context): Promise<FailureCode[]> {
    return [...(await ctx.loaders.failureCodes.load(1)).values()].map(toFailureCode);
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => [FailureCode], { description: 'Classifies failure codes; past figures change accordingly.' })
  async classifyFailureCodes(
    @Arg('input', () => [FailureCodeClassificationInput]) input: FailureCodeClassificationInput[],
    @Ctx() ctx: Context,
  ): Promise<FailureCode[]> {
    const saved = await ctx.services.failureCodes.classify(input);
    return saved.map(toFailureCode);
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => IngestResult, { description: `Ingests up to ${MAX_GRAPHQL_EVENTS} payment outcomes with the semantics of the HTTP endpoint.` })
  async ingestPaymentOutcomes(
    @Arg('sourceId', () => ID) sourceId: string,
    @Arg('events', () => [PaymentOutcomeInput]) events: PaymentOutcomeInput[],
    @Ctx() ctx: Context,
  ): Promise<IngestResult> {
    if (events.length > MAX_GRAPHQL_EVENTS) {
      throw new BadInputError('events', `at most ${MAX_GRAPHQL_EVENTS} events per call (got ${events.length}); use POST /v1/ingest/payment-outcomes for more`);
    }
    const source = await ctx.services.sources.get(sourceId);
    if (source.kind !== 'PAYMENT_EVENTS') throw new BadInputError('sourceId', `source ${sourceId} is a ${source.kind} source`);
    // Plain objects: the validator sees what the client sent, without class prototypes.
    const items = events.map((e, i) => ({ line: i + 1, value: { ...e } }));
    return ctx.services.paymentIngest.ingest(source.id, items);
  }
}
