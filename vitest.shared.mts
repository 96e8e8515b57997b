import path from 'node:path';
import { createRequire } from 'node:module';
import type { UserWorkspaceConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

/**
 * One Vitest setup for every package, so decorators, the graphql realm and the
 * JSON results that .ci/run sums behave the same everywhere.
 */
export function sharedTestConfig(dir: string): UserWorkspaceConfig & { test: Record<string, unknown> } {
  const name = path.basename(dir);
  return {
    // oxc does not emit decorator metadata unless told; type-graphql and TypeORM need it.
    oxc: { decorator: { legacy: true, emitDecoratorMetadata: true } },
    resolve: {
      // Vitest would load graphql's ESM build while type-graphql requires the CommonJS one:
      // two realms, "Cannot use GraphQLObjectType from another module". Pin one file.
      alias: { graphql: require.resolve('graphql/index.js') },
    },
    test: {
      name,
      include: ['src/**/*.test.ts'],
      globalSetup: [path.resolve(import.meta.dirname, 'vitest.global-setup.mts')],
      testTimeout: 30_000,
      hookTimeout: 60_000,
      reporters: ['default', 'json'],
      outputFile: { json: path.resolve(dir, '../../test-results', `${name}.json`) },
    },
  } as never;
}
