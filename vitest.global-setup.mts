import type { TestProject } from 'vitest/node';
import { describeTarget, resolveTestDatabaseTarget, type TestDatabaseTarget } from './packages/db/src/testing/test-database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    testDatabase: TestDatabaseTarget;
  }
}

/** Chooses the integration-test database once per run and says which, so a reader of the log knows. */
export default async function setup(project: TestProject): Promise<void> {
  const target = await resolveTestDatabaseTarget();
  process.stdout.write(`[${project.name}] integration tests use ${describeTarget(target)}\n`);
  project.provide('testDatabase', target);
}
