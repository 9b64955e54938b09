// Lint, including the import boundaries of ../shared/DESIGN.md ("Layout"): a boundary crossed
// fails the build.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const NODE_BUILTINS = ['node:*', 'fs', 'path', 'os', 'crypto', 'child_process', 'http', 'https', 'net', 'url', 'stream', 'events', 'util', 'worker_threads', 'zlib', 'tls', 'dns', 'buffer', 'process'];

const restrict = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });
const group = (names, message) => ({ group: names, message });

export default tseslint.config(
  { ignores: ['dist/**', 'renderer/dist/**', 'node_modules/**', 'coverage/**', 'test-results/**', 'playwright-report/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-control-regex': 'off',
    },
  },
  {
    // `name in obj` with a name from outside also finds Object.prototype's members (`constructor`
    // in a config made a resource of a function). Own-key checks: hasOwn/own in src/shared/own.ts.
    // A literal on the left (`'code' in err`) is a type check and stays allowed.
    files: ['src/**'],
    ignores: ['**/*.test.ts', '**/test-support/**'],
    rules: {
      'no-restricted-syntax': ['error', { selector: "BinaryExpression[operator='in'][left.type!='Literal']", message: 'use hasOwn(obj, key) or own(obj, key) from src/shared/own.ts: `in` also finds inherited members like "constructor".' }],
    },
  },
  {
    files: ['src/shared/**'],
    rules: restrict([
      group(NODE_BUILTINS, 'src/shared is environment-free: no Node modules.'),
      group(['electron', 'react', 'react-dom'], 'src/shared is environment-free.'),
      group(['**/server/**', '**/sync/**', '**/desktop/**', '**/cli/**', '**/electron/**', '**/renderer/**'], 'src/shared imports nothing of the other layers.'),
    ]),
  },
  {
    files: ['src/sync/**', 'src/desktop/**'],
    ignores: ['**/*.test.ts'],
    rules: restrict([
      group(['electron'], 'Only electron/ may import electron.'),
      group(['**/server/**', '**/cli/**'], 'Nothing imports src/server except src/cli and tests.'),
    ]),
  },
  {
    files: ['src/server/**'],
    rules: restrict([
      group(['electron'], 'Only electron/ may import electron.'),
      group(['**/cli/**', '**/desktop/**', '**/sync/**', '**/electron/**', '**/renderer/**'], 'The server depends only on src/shared.'),
    ]),
  },
  {
    files: ['src/cli/**'],
    rules: restrict([group(['electron'], 'Only electron/ may import electron.'), group(['**/desktop/**', '**/electron/**', '**/renderer/**'], 'The CLI uses src/server, src/sync and src/shared.')]),
  },
  {
    files: ['renderer/**'],
    languageOptions: { globals: { ...globals.browser } },
    rules: restrict([
      group(['electron', ...NODE_BUILTINS], 'The renderer talks only to window.latch.'),
      group(['**/src/server/**', '**/src/sync/**', '**/src/desktop/**', '**/src/cli/**', '**/electron/**'], 'renderer/ imports only src/shared and its own files.'),
    ]),
  },
  {
    // The browser harness's bridge script and its protocol run in the page (e2e/harness/bundle.ts).
    files: ['e2e/harness/bridge-client.ts', 'e2e/harness/bridge-protocol.ts'],
    languageOptions: { globals: { ...globals.browser } },
    rules: restrict([
      group(NODE_BUILTINS, 'The bridge script runs in the browser.'),
      group(['**/src/server/**', '**/src/sync/**', '**/src/desktop/**', '**/src/cli/**', '**/electron/**', '**/renderer/**'], 'The bridge script imports only src/shared and its own protocol.'),
    ]),
  },
  {
    files: ['electron/**'],
    rules: restrict([group(['**/src/server/**', '**/src/cli/**'], 'electron/ may import src/desktop, src/sync and src/shared only.')]),
  },
);
