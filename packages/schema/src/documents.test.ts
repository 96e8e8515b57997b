import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSchema, parse, validate } from 'graphql';
import { readTypeDefs, schemaPath } from './index.js';

describe('the committed contract', () => {
  it('is a valid schema with the operations clients rely on', () => {
    const schema = buildSchema(readTypeDefs());
    expect(path.basename(schemaPath)).toBe('schema.graphql');
    const query = schema.getQueryType()!.getFields();
    expect(Object.keys(query)).toEqual(expect.arrayContaining(['me', 'week', 'weekByNumber', 'currentWeek', 'settings', 'apiTokens']));
    expect(schema.getMutationType()!.getFields()).toHaveProperty('createApiToken');
    expect(schema.getSubscriptionType()!.getFields()).toHaveProperty('settingsUpdated');
  });

  it('accepts every document in documents/', () => {
    const schema = buildSchema(readTypeDefs());
    const dir = path.resolve(__dirname, '..', 'documents');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.graphql'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const errors = validate(schema, parse(fs.readFileSync(path.join(dir, f), 'utf8')));
      expect(errors.map((e) => `${f}: ${e.message}`)).toEqual([]);
    }
  });
});
