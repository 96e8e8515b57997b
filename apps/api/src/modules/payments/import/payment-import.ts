import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { parse as parseCsv, type CsvError } from 'csv-parse';
import type { PaymentIngestService, RawItem } from '../ingest.service.js';
import type { IngestRejection } from '../payment-outcome.validation.js';
import { hexByte, invalidUtf8Offset, notUtf8Reason } from '../utf8.js';

export interface ImportProgress {
  /** Bytes taken from the input (compressed bytes for a gzip file), comparable to `totalBytes`. */
  bytesRead: number;
  totalBytes: number | null;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** The last NDJSON line or CSV record whose batch was committed. */
  lines: number;
}

export interface ImportSummary extends ImportProgress {
  /** Every rejection in file order, capped at 10,000 kept in memory (`rejected` counts them all). */
  rejections: IngestRejection[];
  elapsedMs: number;
}

const DEFAULT_BATCH_SIZE = 5_000;
const MAX_KEPT_REJECTIONS = 10_000;
/** A line this long is not an event (a payment outcome is ~250 bytes): it is rejected without being buffered whole. */
const MAX_LINE_BYTES = 1024 * 1024;

/** The CSV columns mapped onto event fields; any other column is ignored. */
const CSV_COLUMNS = ['id', 'occurredAt', 'direction', 'channel', 'status', 'failureCode', 'amountMinor', 'currency'] as const;
const CSV_REQUIRED = ['id', 'occurredAt', 'direction', 'channel', 'status'] as const;
const DECIMAL = /^[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/; // with an exponent, as JSON may write it (1e3)

/**
 * Streams payment outcomes from NDJSON or CSV bytes (gzip-compressed or not, told by the magic
 * bytes) into the ingest service in batches: each batch is validated, deduplicated and
 * committed on its own, without the late-event horizon. A failure part-way keeps the committed
 * batches, and running the same import again counts them as duplicates, so a re-run finishes
 * the job without counting anything twice.
 *
 * Prints nothing; reports through `onProgress` (after every committed batch) and
 * `onRejection` (every rejected line, in file order within a batch). Throws when the input
 * cannot be read or decoded (I/O error, corrupt gzip, a CSV header without the required
 * columns) or the database fails; what was committed before stays committed.
 */
export async function importPaymentOutcomes(
  ingest: PaymentIngestService,
  sourceId: string,
  input: NodeJS.ReadableStream,
  opts: {
    format: 'ndjson' | 'csv';
    batchSize?: number;
    totalBytes?: number | null;
    onProgress?: (p: ImportProgress) => void;
    onRejection?: (r: IngestRejection) => void;
  },
): Promise<ImportSummary> {
  const started = performance.now();
  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const progress: ImportProgress = { bytesRead: 0, totalBytes: opts.totalBytes ?? null, accepted: 0, duplicates: 0, rejected: 0, lines: 0 };
  const rejections: IngestRejection[] = [];

  const bytes = await decompressIfGzip(countBytes(input, progress));
  const groups = opts.format === 'csv' ? csvItems(bytes) : ndjsonItems(bytes);

  let batch: RawItem[] = [];
  const flush = async () => {
    const items = batch;
    batch = [];
    // Every rejection of a batch is listed: --rejects writes them all.
    const result = await ingest.ingest(sourceId, items, { allowLate: true, listRejections: Infinity });
    progress.accepted += result.accepted;
    progress.duplicates += result.duplicates;
    progress.rejected += result.rejectedCount;
    progress.lines = items[items.length - 1]!.line;
    for (const r of result.rejected) {
      if (rejections.length < MAX_KEPT_REJECTIONS) rejections.push(r);
      opts.onRejection?.(r);
    }
    opts.onProgress?.({ ...progress });
  };
  // Sequential on purpose: parsing a batch takes a few ms next to its transaction, and one
  // batch at a time keeps commits in file order (a re-run after a failure resumes cleanly).
  for await (const group of groups) {
    for (const item of group) {
      batch.push(item);
      if (batch.length >= batchSize) await flush();
    }
  }
  if (batch.length > 0) await flush();
  else opts.onProgress?.({ ...progress }); // an empty input still reports its end

  return { ...progress, rejections, elapsedMs: performance.now() - started };
}

/** The input as Buffers, counting the bytes taken. Leaving the loop early destroys the input. */
async function* countBytes(input: NodeJS.ReadableStream, progress: ImportProgress): AsyncGenerator<Buffer> {
  for await (const chunk of input) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    progress.bytesRead += b.length;
    yield b;
  }
}

/** Looks at the first two bytes: 1f 8b is gzip, whatever the file is called. */
async function decompressIfGzip(source: AsyncGenerator<Buffer>): Promise<AsyncIterable<Buffer>> {
  const head: Buffer[] = [];
  let headBytes = 0;
  while (headBytes < 2) {
    const r = await source.next();
    if (r.done) break;
    head.push(r.value);
    headBytes += r.value.length;
  }
  const first = Buffer.concat(head);
  const whole = (async function* () {
    try {
      yield first;
      yield* source;
    } finally {
      await source.return(undefined); // stopped early: release the input
    }
  })();
  if (!(first[0] === 0x1f && first[1] === 0x8b)) return whole;
  const gunzip = createGunzip();
  // A failure of either side destroys `gunzip` with the error, which its reader then throws.
  pipeline(Readable.from(whole), gunzip).catch(() => {});
  return gunzip;
}

/**
 * NDJSON lines, numbered from 1 (blank lines count but yield nothing), grouped per chunk.
 * Splits on the byte 0x0a, which never occurs inside a UTF-8 multi-byte character. Like the
 * HTTP endpoint, a line that is not UTF-8 or not JSON is rejected alone. Hand-written rather than
 * `readline` because a file with no newlines (a one-line JSON array export) must not be
 * buffered whole: a line over 1 MiB is skipped and rejected as it streams by.
 */
async function* ndjsonItems(source: AsyncIterable<Buffer>): AsyncGenerator<RawItem[]> {
  let line = 0;
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let overlong = false;
  const decode = (bytes: Buffer | null): RawItem | null => {
    line++;
    if (bytes === null || bytes.length > MAX_LINE_BYTES) {
      return { line, malformed: `line ${line} is longer than ${MAX_LINE_BYTES} bytes; an event is one JSON object a line` };
    }
    // Checked before decoding: toString would turn bad bytes into U+FFFD and merge distinct ids.
    const bad = invalidUtf8Offset(bytes);
    if (bad !== -1) return { line, malformed: notUtf8Reason(line, bytes, bad) };
    let text = bytes.toString('utf8');
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1); // byte order mark
    text = text.trim();
    if (!text) return null;
    try {
      return { line, value: JSON.parse(text) };
    } catch (err) {
      return { line, malformed: `line ${line} is not valid JSON: ${(err as Error).message}` };
    }
  };
  for await (const chunk of source) {
    const out: RawItem[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      const item = decode(overlong ? null : carryBytes ? Buffer.concat([...carry, piece]) : piece);
      carry = [];
      carryBytes = 0;
      overlong = false;
      if (item) out.push(item);
    }
    if (start < chunk.length && !overlong) {
      carry.push(chunk.subarray(start));
      carryBytes += chunk.length - start;
      if (carryBytes > MAX_LINE_BYTES) {
        overlong = true;
        carry = [];
        carryBytes = 0;
      }
    }
    if (out.length) yield out;
  }
  if (overlong || carryBytes) {
    const item = decode(overlong ? null : Buffer.concat(carry));
    if (item) yield [item];
  }
}

/**
 * CSV records, each numbered by the file line it ends on (its only line unless a quoted field
 * spans lines; the header is line 1, blank lines count), as events: known columns
 * only, an empty cell is an absent field, `amountMinor` a number when it is written as one
 * (otherwise left as text for the validation to reject). Stray quotes are text; a record the
 * parser cannot read (a quote left open to the end of the file) is rejected as malformed.
 */
async function* csvItems(source: AsyncIterable<Buffer>): AsyncGenerator<RawItem[]> {
  const skipped: RawItem[] = [];
  let header = false;
  let lastLine = 1; // the line the latest record (or the header) ended on
  const parser = parseCsv({
    // Fields come as bytes and are checked before they are decoded: csv-parse's own decoding
    // turns bytes that are not UTF-8 into U+FFFD, which merged distinct ids. Its `bom` option
    // is off because finding a BOM switches it back to decoding (see withoutUtf8Bom).
    encoding: null,
    bom: false,
    // csv-parse's types assume strings; with `encoding: null` the header cells are Buffers.
    columns: (names: (Buffer | string)[]) => {
      header = true;
      return csvHeader(names.map((name, i) => csvText(name, `the CSV header (column ${i + 1})`)));
    },
    skip_empty_lines: true,
    relax_column_count: true, // a short record is rejected by the validation, naming the missing field
    // A quote inside an unquoted field, or text after a closing quote, is kept as text (as
    // spreadsheet programs read it) and the record is judged by the validation alone: strict
    // parsing lost its place after `…,"bad"x,…` and swallowed every record to the end of the file.
    relax_quotes: true,
    skip_records_with_error: true,
    // Both callbacks run in file order while parsing, with the parser's line count: numbers
    // that match what an editor shows, and the parser's own messages.
    on_record: (r: Record<string, Buffer>, context: { lines: number }): RawItem => {
      lastLine = context.lines;
      const line = context.lines;
      // Only the columns Tally reads are here (the others were dropped by csvHeader), so a
      // Latin-1 note in an ignored column does not cost the event.
      for (const [column, bytes] of Object.entries(r)) {
        const bad = invalidUtf8Offset(bytes);
        if (bad !== -1) {
          return { line, malformed: `line ${line} is not valid UTF-8 (column ${column}, byte offset ${bad} in the field: ${hexByte(bytes[bad]!)}); send UTF-8 text` };
        }
      }
      return { line, value: csvEvent(r) };
    },
    on_skip: (err: CsvError | undefined) => {
      // A header that is not CSV (an NDJSON file read with --format csv, say) stops the import:
      // every line after it would be judged against columns that do not exist.
      if (!header) throw new Error(`the first line is not a CSV header: ${err?.message ?? 'unreadable'}`);
      // The parser's count is where it gave up (for a quote never closed, the end of the file);
      // the record began on the line after the previous one.
      const line = lastLine + 1;
      lastLine = typeof err?.lines === 'number' ? err.lines : line;
      skipped.push({ line, malformed: `line ${line} is not valid CSV: ${err?.message ?? 'unreadable'}` });
      return undefined;
    },
  });
  pipeline(Readable.from(withoutUtf8Bom(source)), parser).catch(() => {}); // failures surface through `parser`
  for await (const item of parser as AsyncIterable<RawItem>) {
    // The parser reads ahead, so a bad record may be reported before good ones above it that
    // are still buffered: release only the skipped records that precede this one.
    let before = 0;
    while (before < skipped.length && skipped[before]!.line < item.line) before++;
    if (before) yield skipped.splice(0, before);
    yield [item];
  }
  if (skipped.length) yield skipped.splice(0);
  if (!header) throw new Error('the CSV file is empty: it has no header row');
}

/** The input without the UTF-8 byte-order mark some exporters write at its start. */
async function* withoutUtf8Bom(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let head = Buffer.alloc(0);
  let started = false;
  for await (const chunk of source) {
    if (started) {
      yield chunk;
      continue;
    }
    head = Buffer.concat([head, chunk]);
    if (head.length < 3) continue; // the mark may be split over chunks (gzip output)
    started = true;
    yield head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? head.subarray(3) : head;
  }
  if (!started && head.length) yield head;
}

/** A header cell as text; one that is not UTF-8 stops the import (every record would be read against it). */
function csvText(bytes: Buffer | string, what: string): string {
  if (typeof bytes === 'string') return bytes;
  const bad = invalidUtf8Offset(bytes);
  if (bad !== -1) throw new Error(`${what} is not valid UTF-8 (byte offset ${bad}: ${hexByte(bytes[bad]!)}); the file must be UTF-8 text`);
  return bytes.toString('utf8');
}

/** Checks the header row; columns Tally does not know are dropped. */
function csvHeader(header: string[]): (string | false)[] {
  const names = header.map((h) => String(h).trim());
  const missing = CSV_REQUIRED.filter((c) => !names.includes(c));
  if (missing.length) {
    throw new Error(`the CSV header has no ${missing.join(', ')} column${missing.length > 1 ? 's' : ''}; expected ${CSV_COLUMNS.join(',')}`);
  }
  const twice = CSV_COLUMNS.find((c) => names.indexOf(c) !== names.lastIndexOf(c));
  if (twice) throw new Error(`the CSV header names the column ${twice} twice`);
  return names.map((n) => ((CSV_COLUMNS as readonly string[]).includes(n) ? n : false));
}

/** The record's fields, already checked to be UTF-8, as an event. */
function csvEvent(r: Record<string, Buffer | undefined>): Record<string, unknown> {
  const e: Record<string, unknown> = {};
  for (const c of CSV_COLUMNS) {
    const v = r[c]?.toString('utf8');
    if (v === undefined || v === '') continue;
    e[c] = c === 'amountMinor' && DECIMAL.test(v) ? Number(v) : v;
  }
  return e;
}
