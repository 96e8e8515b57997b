import type { TestDatabaseTarget } from '@tally/db/testing';

// What vitest.global-setup.mts provides to every test file.
declare module 'vitest' {
  export interface ProvidedContext {
    testDatabase: TestDatabaseTarget;
  }
}
