import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents for Tally's own clients (the admin app) from `schema.graphql` and the
 * operations in `documents/`. Another team points `schema` at this package's file and
 * `documents` at their own operations; see README.md.
 */
const config: CodegenConfig = {
  schema: 'schema.graphql',
  emitLegacyCommonJSImports: false,
  documents: ['documents/**/*.graphql'],
  generates: {
    'src/generated/': {
      preset: 'client',
      config: {
        scalars: { Date: 'string', DateTime: 'string', SafeInt: 'number' },
        enumsAsTypes: true,
        useTypeImports: true,
      },
      presetConfig: { fragmentMasking: false },
    },
  },
};

export default config;
