import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', '.test-build-*/', 'packages/*/dist/', 'examples/*/dist/', 'examples/*/data/', 'node_modules/', 'data/', 'drizzle/', 'bench/results/'] },
  js.configs.recommended,
  { files: ['**/*.cjs'], languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } } },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration through src/config.ts only.' },
      ],
    },
  },
  {
    // Small functions: a longer one is split by what it does (docs/architecture.md).
    files: ['src/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }] },
  },
  {
    files: ['src/main.ts', 'src/cli/main.ts', 'test/**', 'packages/*/test/**', 'examples/*/src/main.ts', 'examples/*/test/**', 'bench/**', 'postman/**', '*.config.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
