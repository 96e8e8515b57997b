import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { startTestApp, type TestApp } from '../../testing/test-app.js';
import { Role } from './role.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

describe('authentication over HTTP', () => {
  it('answers UNAUTHENTICATED without a token', async () => {
    const r = await t.gql('{ me { name } }', undefined, null);
    expect(r.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(r.data).toBeNull();
  });

  it('answers UNAUTHENTICATED, never a 500, for a malformed Authorization header', async () => {
    for (const header of ['Basic abc', 'Bearer', 'Bearer a b c', 'tly_xxxxxxxx', 'Bearer tly_a\tb', 'Bearer ' + 'x'.repeat(600)]) {
      const res = await fetch(`${t.baseUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: header },
        body: JSON.stringify({ query: '{ me { name } }' }),
      });
      expect(res.status).toBeLessThan(500);
      const body = (await res.json()) as { errors: { extensions: { code: string }; message: string }[] };
      expect(body.errors[0]?.extensions.code).toBe('UNAUTHENTICATED');
    }
  });

  it('answers UNAUTHENTICATED for an unknown token', async () => {
    const r = await t.gql('{ me { name } }', undefined, 'tly_thisisnotarealtokenatall');
    expect(r.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(r.errors?.[0]?.message).toContain('invalid token');
  });

  it('identifies the caller', async () => {
    const r = await t.gql<{ me: { name: string; role: string } }>('{ me { name role } }');
    expect(r.data?.me).toEqual({ name: 'test admin', role: 'ADMIN' });
  });
});

describe('roles', () => {
  it('refuses a VIEWER the ADMIN operations with FORBIDDEN', async () => {
    const viewer = await t.tokenFor(Role.VIEWER);
    const list = await t.gql('{ apiTokens { id } }', undefined, viewer);
    expect(list.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const create = await t.gql('mutation { createApiToken(input: { name: "x", role: ADMIN }) { secret } }', undefined, viewer);
    expect(create.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const settings = await t.gql('mutation { updateSettings(input: { locale: "en" }) { locale } }', undefined, viewer);
    expect(settings.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const me = await t.gql<{ me: { role: string } }>('{ me { role } }', undefined, viewer);
    expect(me.data?.me.role).toBe('VIEWER');
  });

  it('refuses an EDITOR token management', async () => {
    const editor = await t.tokenFor(Role.EDITOR);
    const r = await t.gql('{ apiTokens { id } }', undefined, editor);
    expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('token lifecycle', () => {
  it('creates a token whose secret works once shown, is listed without the secret, and stops working when revoked', async () => {
    const created = await t.gql<{ createApiToken: { token: { id: string; name: string; role: string }; secret: string } }>(
      'mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { token { id name role } secret } }',
      { i: { name: 'dashboards', role: 'VIEWER' } },
    );
    const { token, secret } = created.data!.createApiToken;
    expect(token).toMatchObject({ name: 'dashboards', role: 'VIEWER' });
    expect(secret).toMatch(/^tly_[A-Za-z0-9_-]{40,}$/);

    const me = await t.gql<{ me: { name: string } }>('{ me { name } }', undefined, secret);
    expect(me.data?.me.name).toBe('dashboards');

    const list = await t.gql<{ apiTokens: { id: string; secretPrefix: string; lastUsedAt: string | null }[] }>(
      '{ apiTokens { id name secretPrefix lastUsedAt revokedAt } }',
    );
    const listed = list.data!.apiTokens.find((x) => x.id === token.id)!;
    expect(JSON.stringify(list.data)).not.toContain(secret);
    expect(secret.startsWith(listed.secretPrefix)).toBe(true);
    expect(listed.lastUsedAt).not.toBeNull();

    // Stored hashed: the secret appears nowhere in the table.
    const rows: { n: string }[] = await t.db.dataSource.query(
      `SELECT count(*)::text AS n FROM api_tokens WHERE secret_hash = $1 OR secret_prefix = $1`,
      [secret],
    );
    expect(rows[0]?.n).toBe('0');

    const revoked = await t.gql<{ revokeApiToken: { revokedAt: string } }>('mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }', { id: token.id });
    expect(revoked.data?.revokeApiToken.revokedAt).toBeTruthy();
    const after = await t.gql('{ me { name } }', undefined, secret);
    expect(after.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(after.errors?.[0]?.message).toContain('revoked');
  });

  it('names the field when the token input is bad', async () => {
    const r = await t.gql('mutation { createApiToken(input: { name: "", role: VIEWER }) { secret } }');
    expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(r.errors?.[0]?.message).toContain('name');
  });

  it('answers NOT_FOUND for revoking a token that does not exist', async () => {
    const r = await t.gql('mutation { revokeApiToken(id: "00000000-0000-0000-0000-000000000000") { id } }');
    expect(r.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const bad = await t.gql('mutation { revokeApiToken(id: "not-a-uuid") { id } }');
    expect(bad.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('refuses to revoke the last active ADMIN token', async () => {
    const list = await t.gql<{ apiTokens: { id: string; role: string; revokedAt: string | null }[] }>('{ apiTokens { id role revokedAt } }');
    const admins = list.data!.apiTokens.filter((x) => x.role === 'ADMIN' && !x.revokedAt);
    expect(admins).toHaveLength(1);
    const r = await t.gql('mutation($id: ID!) { revokeApiToken(id: $id) { id } }', { id: admins[0]!.id });
    expect(r.errors?.[0]?.extensions?.code).toBe('CONFLICT');
  });
});

describe('subscriptions', () => {
  function connect(params: Record<string, unknown> | undefined) {
    return new Promise<{ code: number; reason: string }>((resolve) => {
      const client = createClient({
        url: `${t.baseUrl.replace('http', 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams: params,
        retryAttempts: 0,
        lazy: false,
        on: { closed: (e) => resolve({ code: (e as { code: number }).code, reason: (e as { reason: string }).reason }) },
        onNonLazyError: () => {},
      });
      setTimeout(() => void client.dispose(), 3_000);
    });
  }

  it('closes the socket with 4403 and the reason when the token is missing or wrong', async () => {
    expect(await connect(undefined)).toEqual({ code: 4403, reason: expect.stringMatching(/^Forbidden: authentication required/) });
    expect(await connect({ authorization: 'Bearer tly_wrongwrongwrongwrong' })).toEqual({ code: 4403, reason: expect.stringMatching(/^Forbidden: .*invalid token/) });
    expect((await connect({ authorization: 'garbage' })).code).toBe(4403);
  });

  it('delivers settingsUpdated to an authenticated VIEWER, each event read afresh', async () => {
    const viewer = await t.tokenFor(Role.VIEWER);
    const client = createClient({ url: `${t.baseUrl.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${viewer}` }, retryAttempts: 0 });
    const received: unknown[] = [];
    const twoEvents = new Promise<void>((resolve, reject) => {
      const unsubscribe = client.subscribe(
        { query: 'subscription { settingsUpdated { timeZone weekRule } }' },
        {
          next: (v) => {
            received.push(v);
            if (received.length === 2) {
              unsubscribe();
              resolve();
            }
          },
          error: reject,
          complete: () => {},
        },
      );
    });
    // Give the subscription a moment to be registered before publishing.
    await new Promise((r) => setTimeout(r, 300));
    expect((await t.gql('mutation { updateSettings(input: { weekRule: ISO_8601 }) { weekRule } }')).errors).toBeUndefined();
    await new Promise((r) => setTimeout(r, 100));
    expect((await t.gql('mutation { updateSettings(input: { weekRule: FIRST_DAY }) { weekRule } }')).errors).toBeUndefined();
    await twoEvents;
    // A loader cached across events would repeat ISO_8601 here.
    expect(received).toEqual([
      { data: { settingsUpdated: { timeZone: 'Asia/Shanghai', weekRule: 'ISO_8601' } } },
      { data: { settingsUpdated: { timeZone: 'Asia/Shanghai', weekRule: 'FIRST_DAY' } } },
    ]);
    await client.dispose();
  });
});
