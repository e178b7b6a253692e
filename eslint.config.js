// ESLint flat config: typescript-eslint strict + stylistic (type-checked), plus the
// import boundaries of house style B2 (also enforced by test/unit/boundaries.test.ts).
import tseslint from 'typescript-eslint'

const protocolOnly = {
  patterns: [
    {
      group: ['../server/*', '../store/*', '../admin/*', '../../client/*', '../../service-sdk/*'],
      message: 'kdc/protocol is a leaf module (house style B2).',
    },
    {
      group: ['node:*'],
      message:
        'kdc/protocol must not import node: modules (only the AEAD backend loader may, dynamically).',
    },
  ],
}

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'var/**',
      'coverage/**',
      'docs/examples/**',
      'test/fixtures/**',
      'test/conformance/**',
      '.tmp/**',
      'eslint.config.js',
    ],
  },
  ...tseslint.configs.strictTypeChecked,
  ...tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      eqeqeq: ['error', 'always'],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // With noUncheckedIndexedAccess, `bytes[i] as number` is the idiom for in-bounds reads;
      // the strict preset forbids `!`, so the stylistic preference for `!` must yield.
      '@typescript-eslint/non-nullable-type-assertion-style': 'off',
    },
  },
  {
    files: ['kdc/protocol/**/*.ts'],
    ignores: ['kdc/protocol/backend-node.ts'],
    rules: { 'no-restricted-imports': ['error', protocolOnly] },
  },
  {
    files: ['client/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '../kdc/*',
                '!../kdc/protocol',
                '../kdc/protocol/*',
                '!../kdc/protocol/index.js',
              ],
              message: 'client/ may import only kdc/protocol/index.js (house style B2).',
            },
            {
              group: ['../service-sdk/*', 'level'],
              message: 'client/ must not import service-sdk/ or level.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['service-sdk/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '../kdc/*',
                '!../kdc/protocol',
                '../kdc/protocol/*',
                '!../kdc/protocol/index.js',
              ],
              message: 'service-sdk/ may import only kdc/protocol/index.js (house style B2).',
            },
            {
              group: ['../client/*', 'ws', 'level'],
              message: 'service-sdk/ must not import client/, ws or level.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['kdc/admin/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../store/*', 'level'],
              message:
                'the admin CLI talks to the running KDC, never to the store (house style B1).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-floating-promises': 'error',
    },
  },
)
