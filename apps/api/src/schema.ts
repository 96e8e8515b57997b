import 'reflect-metadata';
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema, getMetadataStorage, type PubSub } from 'type-graphql';
import { RoleAuthChecker } from './modules/auth/auth-checker.js';
import { AuthResolver } from './modules/auth/auth.resolver.js';
import { CalendarResolver } from './modules/calendar/calendar.resolver.js';
import { SettingsResolver } from './modules/settings/settings.resolver.js';
import { PaymentsResolver } from './modules/payments/payments.resolver.js';
import { SourcesResolver } from './modules/sources/sources.resolver.js';
import { MetricsResolver } from './modules/metrics/metrics.resolver.js';
import { DateTimeScalar } from './graphql/scalars.js';

export const resolvers = [AuthResolver, SettingsResolver, CalendarResolver, SourcesResolver, PaymentsResolver, MetricsResolver] as const;

/**
 * Every Query, Mutation and Subscription field must say which role may call it. A field
 * without `@Authorized(role)` would be open to anyone, so the schema refuses to build.
 */
export function assertEveryOperationDeclaresARole(): void {
  const storage = getMetadataStorage();
  const authorized = new Set(storage.authorizedFields.map((a) => `${a.target.name}.${a.fieldName}`));
  const open = [...storage.queries, ...storage.mutations, ...storage.subscriptions]
    .filter((r) => resolvers.some((c) => c === r.target))
    .filter((r) => !authorized.has(`${r.target.name}.${r.methodName}`))
    .map((r) => `${r.target.name}.${r.methodName}`);
  if (open.length) throw new Error(`operations without @Authorized(role): ${open.join(', ')}`);
}

/** The API's schema, from the resolver classes. `pubSub` carries subscription events. */
export async function buildTallySchema(pubSub: PubSub): Promise<GraphQLSchema> {
  assertEveryOperationDeclaresARole();
  return buildSchema({
    resolvers,
    authChecker: RoleAuthChecker,
    pubSub,
    scalarsMap: [{ type: Date, scalar: DateTimeScalar }],
    validate: { forbidUnknownValues: false },
    emitSchemaFile: false,
  });
}

/** The schema as committed: sorted, so the file changes only when the contract does. */
export async function printTallySchema(pubSub: PubSub): Promise<string> {
  const schema = await buildTallySchema(pubSub);
  return `# Generated from apps/api by \`npm run schema:emit\`. Do not edit by hand.\n\n${printSchema(lexicographicSortSchema(schema))}\n`;
}
