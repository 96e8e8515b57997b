import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../testing/test-app.js';
import { Role } from '../auth/role.js';

let t: TestApp;
let viewer: string;
beforeAll(async () => {
  t = await startTestApp();
  viewer = await t.tokenFor(Role.VIEWER);
});
afterAll(() => t.close());

type W = { year: number; number: number; label: string; startDate: string; endDate: string; startsAt: string; endsAt: string };

describe('week through GraphQL', () => {
  it('numbers 2023-01-09 as week 03 with the zh-CN label, as the example report does', async () => {
    const r = await t.gql<{ week: W }>('{ week(date: "2023-01-09") { year number label startDate endDate startsAt endsAt } }', undefined, viewer);
    expect(r.errors).toBeUndefined();
    expect(r.data?.week).toEqual({
      year: 2023,
      number: 3,
      label: '第03周 2023-01-09',
      startDate: '2023-01-09',
      endDate: '2023-01-15',
      startsAt: '2023-01-08T16:00:00.000Z',
      endsAt: '2023-01-15T16:00:00.000Z',
    });
  });

  it('gives the English label on request and finds a week by number', async () => {
    const r = await t.gql<{ w: W & { en: string }; p: { number: number } }>(
      '{ w: weekByNumber(year: 2023, number: 3) { startDate en: label(locale: "en") } p: week(date: "2023-01-01") { number year } }',
      undefined,
      viewer,
    );
    expect(r.data?.w).toEqual({ startDate: '2023-01-09', en: 'Week 03 · 2023-01-09' });
    expect(r.data?.p).toEqual({ number: 1, year: 2023 });
  });

  it('follows the organisation week rule when it changes to ISO 8601', async () => {
    await t.gql('mutation { updateSettings(input: { weekRule: ISO_8601 }) { weekRule } }');
    const r = await t.gql<{ week: W }>('{ week(date: "2023-01-01") { year number startDate } }', undefined, viewer);
    expect(r.data?.week).toEqual({ year: 2022, number: 52, startDate: '2022-12-26' });
    await t.gql('mutation { updateSettings(input: { weekRule: FIRST_DAY }) { weekRule } }');
  });

  it('answers the current week', async () => {
    const r = await t.gql<{ currentWeek: W }>('{ currentWeek { startsAt endsAt number } }', undefined, viewer);
    const now = Date.now();
    expect(Date.parse(r.data!.currentWeek.startsAt)).toBeLessThanOrEqual(now);
    expect(Date.parse(r.data!.currentWeek.endsAt)).toBeGreaterThan(now);
  });

  it('rejects week 54, week 0 and a date that is not a date with BAD_USER_INPUT naming the argument', async () => {
    const w54 = await t.gql('{ weekByNumber(year: 2023, number: 54) { number } }', undefined, viewer);
    expect(w54.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'number' });
    expect(w54.errors?.[0]?.message).toContain('number');
    const w0 = await t.gql('{ weekByNumber(year: 2023, number: 0) { number } }', undefined, viewer);
    expect(w0.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const literal = await t.gql('{ week(date: "2023-02-30") { number } }', undefined, viewer);
    expect(literal.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argument: 'date' });
    expect(literal.errors?.[0]?.message).toContain('date');
    const variable = await t.gql('query($d: Date!) { week(date: $d) { number } }', { d: 'next tuesday' }, viewer);
    expect(variable.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(variable.errors?.[0]?.message).toContain('$d');
  });

  it('reads the settings at most once per request however many weeks are asked, and not again while the process has them', async () => {
    const fields = Array.from({ length: 12 }, (_, i) => `w${i}: weekByNumber(year: 2023, number: ${i + 1}) { number label previous { number label } }`).join(' ');
    // A settings change empties the process's cache: the next request reads them once.
    await t.gql('mutation { updateSettings(input: { lowVolumeThreshold: 100 }) { lowVolumeThreshold } }');
    // Its NOTIFY comes back through this process's listener a moment later and empties it again.
    await new Promise((r) => setTimeout(r, 300));
    for (const expected of [1, 0]) {
      t.statements.length = 0;
      const r = await t.gql<Record<string, { number: number }>>(`{ ${fields} }`, undefined, viewer);
      expect(r.errors).toBeUndefined();
      expect(r.data?.w11?.number).toBe(12);
      const settingsReads = [...t.statements].filter((s) => /FROM "settings"/i.test(s));
      expect(settingsReads).toHaveLength(expected);
    }
  });
});
