#!/usr/bin/env node
// Builds what is not built (turbo's cache makes a second start instant), quietly unless the
// build fails, then runs a compiled entry point in this same process.
//   node scripts/built.mjs apps/api/dist/main.js [args…]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  process.stderr.write('usage: node scripts/built.mjs <compiled entry> [args…]\n');
  process.exit(2);
}
// On a fresh clone the build takes half a minute before anything else is printed: say so (on
// stderr, so that a command's own output stays clean).
if (!fs.existsSync(path.resolve(root, entry))) process.stderr.write('Building Tally (first run only; about half a minute)…\n');
const build = spawnSync('npx', ['--no-install', 'turbo', 'run', 'build', '--filter=@tally/api...', '--output-logs=errors-only'], {
  cwd: root,
  encoding: 'utf8',
  env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', TURBO_NO_UPDATE_NOTIFIER: '1' },
});
if (build.status !== 0) {
  process.stderr.write(build.stdout + build.stderr);
  process.stderr.write(`tally: build failed (exit ${build.status})\n`);
  process.exit(1);
}
process.argv = [process.argv[0], path.resolve(root, entry), ...args];
createRequire(import.meta.url)(path.resolve(root, entry));
