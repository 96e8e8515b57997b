import { dayOf, localDayStart, type CalendarSettings } from '@tally/domain';

/**
 * The demo quarter: payment outcomes from 1 December 2022 to 28 February 2023 (Asia/Shanghai)
 * with a daily shape, channels and failure codes, such that week 03 of 2023 (2023-01-09 …
 * 2023-01-15) shows the example report's 入金有效成功率 99.99% and 出金有效成功率 99.91%.
 * Deterministic (seeded), so every fresh start shows the same figures.
 */
export const DEMO_CALENDAR: CalendarSettings = { timeZone: 'Asia/Shanghai', weekRule: 'FIRST_DAY' };
export const DEMO_FROM = '2022-12-01';
export const DEMO_TO = '2023-03-01';
export const DEMO_WEEK = { from: '2023-01-09', to: '2023-01-16' };
export const DEMO_TARGETS = { PAY_IN: 0.9999, PAY_OUT: 0.9991 } as const;
/** How many events `demoPaymentLines` yields (a test holds it to that): a complete demo has them all. */
export const DEMO_EVENT_COUNT = 213_705;

export const DEMO_FAILURE_CODES = [
  { code: 'INSUFFICIENT_BALANCE', attribution: 'USER', description: '余额不足 · insufficient balance' },
  { code: 'WRONG_PASSWORD', attribution: 'USER', description: '密码错误 · wrong password' },
  { code: 'USER_CANCELLED', attribution: 'USER', description: '用户取消 · cancelled by the user' },
  { code: 'CARD_LIMIT_EXCEEDED', attribution: 'USER', description: '超出卡限额 · card limit exceeded' },
  { code: 'BANK_TIMEOUT', attribution: 'SYSTEM', description: '银行超时 · bank channel timeout' },
  { code: 'CHANNEL_UNAVAILABLE', attribution: 'SYSTEM', description: '通道不可用 · channel unavailable' },
  { code: 'ACCOUNT_SERVICE_ERROR', attribution: 'SYSTEM', description: '账户服务异常 · account service error' },
] as const;

const USER_CODES = DEMO_FAILURE_CODES.filter((c) => c.attribution === 'USER').map((c) => c.code);
const SYSTEM_CODES = DEMO_FAILURE_CODES.filter((c) => c.attribution === 'SYSTEM').map((c) => c.code);

const CHANNELS = {
  PAY_IN: [
    ['unionpay', 0.4],
    ['alipay', 0.25],
    ['wechat', 0.2],
    ['pingan-custody', 0.1],
    ['cmb-quickpay', 0.05],
  ],
  PAY_OUT: [
    ['cmb-transfer', 0.45],
    ['icbc-transfer', 0.35],
    ['alipay-payout', 0.2],
  ],
} as const;

/** Share of a day's volume per local hour: quiet nights, a late-morning and an evening peak. */
const HOURLY = [2, 1, 1, 1, 1, 2, 3, 5, 7, 9, 10, 10, 8, 8, 8, 8, 8, 7, 8, 9, 9, 7, 5, 3];
const HOURLY_SUM = HOURLY.reduce((a, b) => a + b, 0);

const DAILY = { PAY_IN: 1_500, PAY_OUT: 1_000 } as const;
const USER_FAILURE_SHARE = 0.015;

function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function pick<T>(r: () => number, items: readonly (readonly [T, number])[]): T {
  let x = r();
  for (const [v, w] of items) {
    if ((x -= w) < 0) return v;
  }
  return items[items.length - 1]![0];
}

function* dates(from: string, to: string): Generator<string> {
  for (let d = new Date(`${from}T00:00:00Z`); d < new Date(`${to}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + 1)) yield d.toISOString().slice(0, 10);
}

/** System failures for `eligible` attempts so that 1 − f/eligible rounds (2 decimals, in %) to the target. */
export function failuresFor(eligible: number, target: number): number {
  let f = Math.round(eligible * (1 - target));
  const pct = (x: number) => Math.round((1 - x / eligible) * 10_000) / 100;
  const want = Math.round(target * 10_000) / 100;
  while (f > 0 && pct(f) < want) f--;
  while (pct(f + 1) >= want && pct(f) > want) f++;
  return f;
}

/** The demo events as NDJSON lines, in time order per day. */
export function* demoPaymentLines(): Generator<string> {
  const r = prng(20230109);
  let n = 0;
  const inWeek = (d: string) => d >= DEMO_WEEK.from && d < DEMO_WEEK.to;
  // Week 03's system failures are fixed so its rates match the report; other days vary.
  const weekDays = [...dates(DEMO_WEEK.from, DEMO_WEEK.to)].length;
  const weekPlan = {
    PAY_IN: failuresFor(Math.round(DAILY.PAY_IN * weekDays * (1 - USER_FAILURE_SHARE)), DEMO_TARGETS.PAY_IN),
    PAY_OUT: failuresFor(Math.round(DAILY.PAY_OUT * weekDays * (1 - USER_FAILURE_SHARE)), DEMO_TARGETS.PAY_OUT),
  };
  for (const date of dates(DEMO_FROM, DEMO_TO)) {
    const start = localDayStart(date, DEMO_CALENDAR.timeZone).getTime();
    const end = dayOf(date, DEMO_CALENDAR).endsAt.getTime();
    const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
    const scale = weekday === 0 || weekday === 6 ? 0.8 : 1;
    for (const direction of ['PAY_IN', 'PAY_OUT'] as const) {
      const total = inWeek(date) ? DAILY[direction] : Math.round(DAILY[direction] * scale * (0.9 + 0.2 * r()));
      const userFailures = Math.round(total * USER_FAILURE_SHARE);
      const eligible = total - userFailures;
      let systemFailures: number;
      if (inWeek(date)) {
        // Spread the week's failures over its days: day i gets its share.
        const i = [...dates(DEMO_WEEK.from, DEMO_WEEK.to)].indexOf(date);
        systemFailures = Math.floor(((i + 1) * weekPlan[direction]) / weekDays) - Math.floor((i * weekPlan[direction]) / weekDays);
      } else {
        const rate = direction === 'PAY_IN' ? 0.9995 + 0.0005 * r() : 0.9985 + 0.001 * r();
        systemFailures = Math.round(eligible * (1 - rate));
      }
      // Each attempt gets a time from the hourly shape; the outcome is assigned by position.
      const times: number[] = [];
      for (let k = 0; k < total; k++) {
        const hour = pick(r, HOURLY.map((w, h) => [h, w / HOURLY_SUM] as const));
        times.push(Math.min(end - 1, start + hour * 3_600_000 + Math.floor(r() * 3_600_000)));
      }
      times.sort((a, b) => a - b);
      const outcomes: (string | null)[] = [
        ...Array.from({ length: userFailures }, () => USER_CODES[Math.floor(r() * USER_CODES.length)]!),
        ...Array.from({ length: systemFailures }, () => SYSTEM_CODES[Math.floor(r() * SYSTEM_CODES.length)]!),
        ...Array.from({ length: total - userFailures - systemFailures }, () => null),
      ];
      for (let k = outcomes.length - 1; k > 0; k--) {
        const j = Math.floor(r() * (k + 1));
        [outcomes[k], outcomes[j]] = [outcomes[j]!, outcomes[k]!];
      }
      for (let k = 0; k < total; k++) {
        const code = outcomes[k];
        n++;
        yield JSON.stringify({
          id: `demo-${direction === 'PAY_IN' ? 'in' : 'out'}-${n}`,
          occurredAt: new Date(times[k]!).toISOString(),
          direction,
          channel: pick(r, CHANNELS[direction]),
          status: code ? 'FAILED' : 'SUCCEEDED',
          ...(code ? { failureCode: code } : {}),
          amountMinor: Math.floor(1_000 + r() * (direction === 'PAY_IN' ? 500_000 : 2_000_000)),
          currency: 'CNY',
        });
      }
    }
  }
}
