import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseLockedError, DatabaseUnavailableError, openDatabase, repairDayTotals } from '@tally/db';
import { ConfigError, parseConfig } from './config.js';
import { createLogger } from './logger.js';
import { IMPORT_USAGE, parseImportArgs, runImport, UsageError } from './modules/payments/import/import.command.js';
import { createTallyPubSub } from './pubsub.js';
import { printTallySchema } from './schema.js';

const SCHEMA_FILE = path.resolve(__dirname, '../../../packages/schema/schema.graphql');

const USAGE = `usage: tally <command>
  migrate [up]        apply pending migrations
  migrate down        revert the last migration
  schema emit         write packages/schema/schema.graphql from the code
  schema check        fail when the committed schema.graphql differs from the code
  import payment-outcomes --source <id or name> FILE
                      backfill payment outcomes from NDJSON or CSV (gzip too); --help for options
  repair day-totals   check the day totals by class against the day counters and rebuild them
                      (after a rolling upgrade to the release that added them; infra/README.md)`;

function fail(message: string, code = 1): never {
  process.stderr.write(`tally: ${message}\n`);
  process.exit(code);
}


async function migrate(direction: string | undefined): Promise<void> {
  if (direction !== undefined && direction !== 'up' && direction !== 'down') fail(USAGE, 2);
  const config = parseConfig();
  const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, applicationName: 'tally-migrate' });
  try {
    if (direction === 'down') {
      await db.revertLast();
      process.stdout.write(`reverted the last migration on ${db.description}\n`);
    } else {
      const applied = await db.migrate();
      process.stdout.write(applied.length ? `applied ${applied.join(', ')} on ${db.description}\n` : `${db.description} is up to date\n`);
    }
  } finally {
    await db.close();
  }
}

async function schema(action: string | undefined): Promise<void> {
  const printed = await printTallySchema(createTallyPubSub());
  if (action === 'emit') {
    fs.writeFileSync(SCHEMA_FILE, printed);
    process.stdout.write(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}\n`);
    return;
  }
  if (action === 'check') {
    const committed = fs.existsSync(SCHEMA_FILE) ? fs.readFileSync(SCHEMA_FILE, 'utf8') : '';
    if (committed !== printed) {
      fail('packages/schema/schema.graphql differs from the code: run `npm run schema:emit` and commit the result');
    }
    process.stdout.write('schema.graphql matches the code\n');
    return;
  }
  fail(USAGE, 2);
}

async function importCommand(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${IMPORT_USAGE}\n`);
    return;
  }
  let args;
  try {
    args = parseImportArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) fail(`${err.message}\n${IMPORT_USAGE}`, 2);
    throw err;
  }
  // `npm run tally -- …` runs in the repository root; a relative FILE means the caller's directory.
  // INIT_CWD is inherited by everything npm starts, so it counts only for the `tally` script itself.
  const callerDir = process.env.npm_lifecycle_event === 'tally' ? process.env.INIT_CWD : undefined;
  if (callerDir && args.file !== '-') args = { ...args, file: path.resolve(callerDir, args.file) };
  if (callerDir && args.rejectsFile) args = { ...args, rejectsFile: path.resolve(callerDir, args.rejectsFile) };
  const config = parseConfig();
  // Warnings only: the summary and the progress bar are the output here, not JSON logs.
  const log = createLogger({ logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel });
  let db;
  try {
    db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, applicationName: 'tally-import' });
  } catch (err) {
    if (err instanceof DatabaseLockedError) {
      fail(`${err.message}; stop it (the embedded database serves one process) and run the import again, or run both on PostgreSQL with DATABASE_URL`);
    }
    throw err;
  }
  try {
    await db.migrate();
    process.exitCode = await runImport(args, db, log, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
  } finally {
    await db.close();
  }
}

async function repair(what: string | undefined): Promise<void> {
  if (what !== 'day-totals') fail(USAGE, 2);
  const config = parseConfig();
  const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, applicationName: 'tally-repair' });
  try {
    await db.migrate();
    const r = await db.dataSource.transaction((m) => repairDayTotals(m));
    process.stdout.write(
      r.differing
        ? `rebuilt the day totals on ${db.description}: ${r.differing} of their rows differed from the day counters (now ${r.rows} rows)\n`
        : `the day totals on ${db.description} matched the day counters (${r.rows} rows); rebuilt anyway\n`,
    );
  } finally {
    await db.close();
  }
}

async function run(argv: string[]): Promise<void> {
  const [command, sub] = argv;
  if (command === 'migrate') return migrate(sub);
  if (command === 'repair') return repair(sub);
  if (command === 'schema') return schema(sub);
  if (command === 'import') return importCommand(argv.slice(1));
  fail(USAGE, 2);
}

run(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof DatabaseUnavailableError || err instanceof DatabaseLockedError) fail(err.message);
  fail(err instanceof Error ? err.message : String(err));
});
