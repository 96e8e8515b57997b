import { Arg, Authorized, Ctx, FieldResolver, Int, Query, Resolver, Root } from 'type-graphql';
import {
  LOCALES,
  periodOf,
  previousPeriod,
  weekByNumber,
  weekLabel,
  weekOfDate,
  weekOfInstant,
  yearToDate,
  type CalendarSettings,
  type Locale,
  type Week as DomainWeek,
} from '@tally/domain';
import type { Context } from '../../context.js';
import { BadInputError } from '../../errors/app-errors.js';
import { DateScalar, localDateOf } from '../../graphql/scalars.js';
import { Role } from '../auth/role.js';
import { Period, PeriodKind, Week } from './calendar.types.js';

async function calendarOf(ctx: Context): Promise<CalendarSettings> {
  const s = await ctx.loaders.settings.load(1);
  return { timeZone: s.timeZone, weekRule: s.weekRule };
}

@Resolver(() => Week)
export class CalendarResolver {
  @Authorized(Role.VIEWER)
  @Query(() => Week, { description: 'The reporting week containing a local date.' })
  async week(@Arg('date', () => DateScalar) date: Date, @Ctx() ctx: Context): Promise<DomainWeek> {
    return weekOfDate(localDateOf(date), await calendarOf(ctx));
  }

  @Authorized(Role.VIEWER)
  @Query(() => Week, { description: 'A week by its year and number under the organisation\'s week rule; a number the year does not have is BAD_USER_INPUT.' })
  async weekByNumber(
    @Arg('year', () => Int) year: number,
    @Arg('number', () => Int) number: number,
    @Ctx() ctx: Context,
  ): Promise<DomainWeek> {
    return weekByNumber(year, number, await calendarOf(ctx));
  }

  @Authorized(Role.VIEWER)
  @Query(() => Week, { description: 'The week in progress now.' })
  async currentWeek(@Ctx() ctx: Context): Promise<DomainWeek> {
    return weekOfInstant(new Date(), await calendarOf(ctx));
  }

  @Authorized(Role.VIEWER)
  @Query(() => Period, { description: 'The calendar period of a kind containing a local date (YEAR_TO_DATE: from 1 January to now, or to the end of that date\'s day).' })
  async period(
    @Arg('kind', () => PeriodKind) kind: PeriodKind,
    @Arg('date', () => DateScalar) date: Date,
    @Ctx() ctx: Context,
  ): Promise<Period> {
    const cal = await calendarOf(ctx);
    const local = localDateOf(date);
    if (kind === PeriodKind.YEAR_TO_DATE) {
      const endOfDay = periodOf('DAY', local, cal).endsAt;
      const now = new Date();
      return yearToDate(endOfDay < now ? endOfDay : now, cal) as Period;
    }
    return periodOf(kind, local, cal) as Period;
  }

  @FieldResolver(() => String, { description: 'e.g. "第03周 2023-01-09" (zh-CN) or "Week 03 · 2023-01-09" (en); the organisation\'s locale unless one is given.' })
  async label(@Root() week: DomainWeek, @Ctx() ctx: Context, @Arg('locale', () => String, { nullable: true }) locale?: string | null): Promise<string> {
    const chosen = locale ?? (await ctx.loaders.settings.load(1)).locale;
    if (!LOCALES.includes(chosen as Locale)) throw new BadInputError('locale', `unsupported locale "${chosen}"; supported: ${LOCALES.join(', ')}`);
    return weekLabel(week, chosen as Locale);
  }

  @FieldResolver(() => Week, { description: 'The week before.' })
  async previous(@Root() week: DomainWeek, @Ctx() ctx: Context): Promise<DomainWeek> {
    return previousPeriod(week, await calendarOf(ctx)) as DomainWeek;
  }
}
