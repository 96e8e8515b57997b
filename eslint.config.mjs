// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/generated/**', '**/.turbo/**', '**/coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    // Decorator metadata reads parameter types at run time: the parser must know, so that
    // consistent-type-imports does not turn a runtime import into `import type`.
    languageOptions: { parserOptions: { emitDecoratorMetadata: true, experimentalDecorators: true } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      'no-console': 'error',
    },
  },
  {
    // The domain and the database layer never depend on GraphQL (house style).
    files: ['packages/domain/**/*.ts', 'packages/db/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['graphql', 'graphql/*', 'type-graphql', '@apollo/*'], message: 'domain and db stay free of GraphQL' }] }],
    },
  },
  {
    files: ['scripts/**/*.mjs', '*.mjs', '*.mts'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
