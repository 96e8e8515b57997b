import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { isConnectionError, SourceEntity, type Database } from '@tally/db';
import { ChangeBus } from '../../../changes/change-bus.js';
import { PaymentIngestService } from '../ingest.service.js';
import type { IngestRejection } from '../payment-outcome.validation.js';
import { importPaymentOutcomes, type ImportProgress, type ImportSummary } from './payment-import.js';

export const IMPORT_USAGE = `usage: tally import payment-outcomes --source <id or name> [options] FILE
  FILE                 NDJSON (one event a line) or CSV with a header row, optionally gzipped;
                       "-" reads standard input
  --source, -s         the payment source the events belong to (its id or its name)
  --format ndjson|csv  default: from the file name (.csv or .csv.gz is CSV, anything else NDJSON)
  --rejects FILE       write every rejected line as NDJSON {line,id,field,code,reason} to FILE
  --batch-size N       events per transaction (default 5000)
  --quiet, -q          no progress bar
exit status: 0 every line accepted or a duplicate; 3 finished, some lines rejected;
             1 stopped by an error (batches committed before it stay; re-run to finish); 2 usage`;

/** Exit statuses, documented in docs/import.md. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, REJECTED: 3 } as const;

export class UsageError extends Error {}

export interface ImportArgs {
  source: string;
  file: string;
  format: 'ndjson' | 'csv';
  rejectsFile: string | null;
  batchSize: number;
  quiet: boolean;
}

/** Parses `payment-outcomes --source … FILE`; throws UsageError naming what is wrong. */
export function parseImportArgs(argv: string[]): ImportArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        source: { type: 'string', short: 's' },
        format: { type: 'string' },
        rejects: { type: 'string' },
        'batch-size': { type: 'string' },
        quiet: { type: 'boolean', short: 'q', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const [what, file, ...extra] = positionals;
  if (what !== 'payment-outcomes') throw new UsageError(what ? `cannot import "${what}"; only payment-outcomes` : 'say what to import: payment-outcomes');
  if (!file) throw new UsageError('name the FILE to import ("-" for standard input)');
  if (extra.length) throw new UsageError(`one FILE at a time (got also ${extra.join(', ')})`);
  if (!values.source) throw new UsageError('--source is required: the id or name of a PAYMENT_EVENTS source');
  const format = values.format ?? (/\.csv(\.gz)?$/i.test(file) ? 'csv' : 'ndjson');
  if (format !== 'ndjson' && format !== 'csv') throw new UsageError(`--format must be ndjson or csv (got "${format}")`);
  const batchSize = values['batch-size'] === undefined ? 5_000 : Number(values['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 50_000) {
    throw new UsageError(`--batch-size must be a whole number from 1 to 50000 (got "${values['batch-size']}")`);
  }
  return { source: values.source, file, format, rejectsFile: values.rejects ?? null, batchSize, quiet: values.quiet };
}

export interface ImportIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

/**
 * Runs an import against an open database and returns the exit status. Prints a progress bar
 * on a terminal, then a summary on stdout; problems go to stderr in one line each.
 */
export async function runImport(args: ImportArgs, db: Database, log: Logger, io: ImportIo): Promise<number> {
  const source = await findSource(db, args.source);
  if (!source) {
    io.stderr.write(`tally: no source "${args.source}"; \`{ sources { id name kind } }\` lists them\n`);
    return EXIT.USAGE;
  }
  if (source.kind !== 'PAYMENT_EVENTS') {
    io.stderr.write(`tally: source "${source.name}" is a ${source.kind} source; payment outcomes go to a PAYMENT_EVENTS source\n`);
    return EXIT.USAGE;
  }

  let input: NodeJS.ReadableStream;
  let totalBytes: number | null = null;
  if (args.file === '-') {
    input = io.stdin;
  } else {
    try {
      const stat = fs.statSync(args.file);
      if (!stat.isFile()) throw new Error('not a regular file');
      totalBytes = stat.size;
    } catch (err) {
      io.stderr.write(`tally: cannot read ${args.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
      return EXIT.USAGE;
    }
    input = fs.createReadStream(args.file);
  }

  let rejects: fs.WriteStream | null = null;
  let rejectsError: Error | null = null;
  if (args.rejectsFile) {
    try {
      rejects = await openForWriting(args.rejectsFile);
    } catch (err) {
      io.stderr.write(`tally: cannot write ${args.rejectsFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
      return EXIT.USAGE;
    }
    rejects.on('error', (err) => (rejectsError ??= err));
  }
  const bar = !args.quiet && io.stderr.isTTY ? new ProgressLine(io.stderr) : null;
  // Its commits notify the API's metricUpdated subscribers (on PostgreSQL, where the API runs alongside).
  const changes = new ChangeBus(db, log);
  changes.startPublishing();
  const ingest = new PaymentIngestService(db, changes, log);
  const started = Date.now();
  let summary: ImportSummary;
  try {
    summary = await importPaymentOutcomes(ingest, source.id, input, {
      format: args.format,
      batchSize: args.batchSize,
      totalBytes,
      onProgress: (p) => bar?.render(p, Date.now() - started),
      onRejection: (r) => rejects?.write(`${JSON.stringify(r)}\n`),
    });
  } catch (err) {
    bar?.clear();
    io.stderr.write(`tally: import stopped: ${(err as Error).message}\n`);
    io.stderr.write(
      isConnectionError(err) || (err as NodeJS.ErrnoException).syscall
        ? 'tally: batches committed before the error stay; running the same import again counts them as duplicates and finishes the rest\n'
        : 'tally: batches committed before the error stay; fix the file and import it again: what is already in counts as duplicates\n',
    );
    await closeStream(rejects);
    return EXIT.FAILED;
  }
  bar?.clear();
  await closeStream(rejects);
  if (rejectsError) {
    io.stderr.write(`tally: the import finished but writing ${args.rejectsFile} failed: ${(rejectsError as Error).message}\n`);
  }

  const secs = summary.elapsedMs / 1000;
  const rate = secs > 0 ? Math.round((summary.accepted + summary.duplicates + summary.rejected) / secs) : 0;
  io.stdout.write(
    `imported ${args.file === '-' ? 'standard input' : path.basename(args.file)} into source "${source.name}" (${source.id}): ` +
      `${n(summary.accepted)} accepted, ${n(summary.duplicates)} duplicates, ${n(summary.rejected)} rejected ` +
      `in ${secs.toFixed(1)} s (${n(rate)} events/s)\n`,
  );
  if (rejectsError) return EXIT.FAILED;
  if (summary.rejected > 0) {
    for (const r of summary.rejections.slice(0, 10)) io.stderr.write(`  ${describe(r)}\n`);
    if (summary.rejected > 10) io.stderr.write(`  … and ${n(summary.rejected - 10)} more${args.rejectsFile ? ` (all in ${args.rejectsFile})` : '; --rejects FILE writes them all'}\n`);
    return EXIT.REJECTED;
  }
  return EXIT.OK;
}

/** By id, else by name (names are unique). */
async function findSource(db: Database, ref: string): Promise<SourceEntity | null> {
  const repo = db.dataSource.getRepository(SourceEntity);
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(ref);
  return (uuid ? await repo.findOneBy({ id: ref }) : null) ?? (await repo.findOneBy({ name: ref }));
}

function describe(r: IngestRejection): string {
  return `line ${r.line}${r.id ? ` (id ${r.id})` : ''}: ${r.code}${r.field ? ` ${r.field}` : ''}: ${r.reason}`;
}

const n = (x: number) => x.toLocaleString('en-US');

/** A write stream once the file is open; rejects with the open error (no such directory, …). */
function openForWriting(file: string): Promise<fs.WriteStream> {
  return new Promise((resolve, reject) => {
    const s = fs.createWriteStream(file);
    s.once('open', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function closeStream(s: fs.WriteStream | null): Promise<void> {
  return new Promise((resolve) => (s ? s.end(resolve) : resolve()));
}

/**
 * One self-rewriting line on a terminal: a bar when the size is known (a file), counts always.
 * Written by hand rather than with a progress-bar package: it is one `\r` line, redrawn at most
 * ten times a second, and needs nothing a library would add.
 */
class ProgressLine {
  private last = 0;
  constructor(private readonly out: NodeJS.WritableStream & { columns?: number }) {}

  render(p: ImportProgress, elapsedMs: number): void {
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    const done = p.accepted + p.duplicates + p.rejected;
    const rate = elapsedMs > 0 ? Math.round(done / (elapsedMs / 1000)) : 0;
    const counts = `${n(p.accepted)} accepted · ${n(p.duplicates)} dup · ${n(p.rejected)} rejected · ${n(rate)}/s`;
    let line = counts;
    if (p.totalBytes) {
      const share = Math.min(1, p.bytesRead / p.totalBytes);
      const width = 24;
      const filled = Math.round(share * width);
      line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(share * 100).toFixed(0).padStart(3)}% ${counts}`;
    }
    const cols = this.width();
    this.out.write(`\r${line.slice(0, cols).padEnd(cols)}`);
  }

  clear(): void {
    this.out.write(`\r${' '.repeat(this.width())}\r`);
  }

  /** One less than the terminal's width (no wrap); some pseudo-terminals report 0. */
  private width(): number {
    const cols = this.out.columns ?? 0;
    return cols >= 20 ? cols - 1 : 79;
  }
}
