import { describe, expect, it } from 'vitest';
import { parseBearer } from './modules/auth/token-secret.js';
import { ConfigError, parseConfig } from './config.js';

describe('parseConfig', () => {
  it('trims the bootstrap token, so one written by echo or a secret file still authenticates', () => {
    const token = 'review-admin-token-0123456789abcdef';
    const config = parseConfig({ TALLY_ADMIN_TOKEN: `${token}\n` });
    expect(config.adminToken).toBe(token);
    expect(parseBearer(`Bearer ${token}`)).toEqual({ ok: true, secret: config.adminToken });
  });

  it('refuses a bootstrap token no client could send, naming the variable', () => {
    expect(() => parseConfig({ TALLY_ADMIN_TOKEN: 'correct horse battery staple 42' })).toThrow(ConfigError);
    expect(() => parseConfig({ TALLY_ADMIN_TOKEN: 'correct horse battery staple 42' })).toThrow(/TALLY_ADMIN_TOKEN: must be printable ASCII without spaces/);
    expect(() => parseConfig({ TALLY_ADMIN_TOKEN: 'short' })).toThrow(/TALLY_ADMIN_TOKEN: must be at least 24 characters/);
  });

  it('names every bad variable and keeps the defaults', () => {
    expect(() => parseConfig({ PORT: 'x', DATABASE_URL: 'mysql://h/db' })).toThrow(/DATABASE_URL: must be a postgres.*; PORT: /);
    expect(parseConfig({})).toMatchObject({ port: 4000, demo: true, ingestMaxBodyBytes: 16 * 1024 * 1024 });
  });
});
