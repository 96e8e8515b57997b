import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../testing/test-app.js';
import { Role } from '../auth/role.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

describe('settings', () => {
  it('starts with the organisation defaults', async () => {
    const viewer = await t.tokenFor(Role.VIEWER);
    const r = await t.gql('{ settings { timeZone weekRule locale } }', undefined, viewer);
    expect(r.data).toEqual({ settings: { timeZone: 'Asia/Shanghai', weekRule: 'FIRST_DAY', locale: 'zh-CN' } });
  });

  it('rejects an unknown time zone with BAD_USER_INPUT naming the field, and changes nothing', async () => {
    const r = await t.gql('mutation { updateSettings(input: { timeZone: "Mars/Olympus", locale: "en" }) { timeZone } }');
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'timeZone' });
    expect(r.errors?.[0]?.message).toContain('Mars/Olympus');
    const after = await t.gql('{ settings { timeZone locale } }');
    expect(after.data).toEqual({ settings: { timeZone: 'Asia/Shanghai', locale: 'zh-CN' } });
  });

  it('rejects an unsupported locale naming the field', async () => {
    const r = await t.gql('mutation { updateSettings(input: { locale: "fr" }) { locale } }');
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'locale' });
  });

  it('moves week boundaries when the time zone changes', async () => {
    const upd = await t.gql('mutation { updateSettings(input: { timeZone: "Europe/Berlin", locale: "en" }) { timeZone locale } }');
    expect(upd.data).toEqual({ updateSettings: { timeZone: 'Europe/Berlin', locale: 'en' } });
    const w = await t.gql('{ week(date: "2023-01-09") { startsAt label } }');
    expect(w.data).toEqual({ week: { startsAt: '2023-01-08T23:00:00.000Z', label: 'Week 03 · 2023-01-09' } });
    await t.gql('mutation { updateSettings(input: { timeZone: "Asia/Shanghai", locale: "zh-CN" }) { timeZone } }');
  });
});
