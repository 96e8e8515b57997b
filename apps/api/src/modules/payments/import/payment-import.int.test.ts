import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../../testing/test-app.js';
import { event, failed, ndjson, newSource, post, type EventInput } from '../../../testing/factories.js';
import { EXIT, parseImportArgs, runImport, UsageError, type ImportArgs } from './import.command.js';
import { importPaymentOutcomes } from './payment-import.js';

let t: TestApp;
let dir: string;
const silent = pino({ level: 'silent' });

beforeAll(async () => {
  t = await startTestApp();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-import-'));
});
afterAll(async () => {
  await t.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** 2023 is far past the 35-day horizon: only the import may bring these in. */
const OLD = '2023-01-10T09:30:00+08:00';

function file(name: string, content: string | Buffer): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
}

/** Runs the command as the CLI would, capturing what it prints. */
async function cli(argv: string[], stdin = '') {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (into: string[]) => Object.assign(new PassThrough(), { write: (s: string) => (into.push(String(s)), true) });
  const code = await runImport(parseImportArgs(argv), t.db, silent, {
    stdin: Readable.from([stdin]),
    stdout: sink(out),
    stderr: sink(err),
  });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

async function figures(sourceId: string) {
  const rows: { status: string; n: string }[] = await t.db.dataSource.query(
    `SELECT CASE WHEN failure_code IS NULL THEN 'SUCCEEDED' ELSE 'FAILED' END AS status, count(*)::text AS n
       FROM payment_events WHERE source_id = $1 GROUP BY 1 ORDER BY 1`,
    [sourceId],
  );
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

async function week3(direction: 'PAY_IN' | 'PAY_OUT' = 'PAY_IN') {
  const r = await t.gql<{ paymentSuccess: { attempts: number; succeeded: number; systemFailures: number; unclassifiedFailures: number } }>(
    `{ paymentSuccess(direction: ${direction}, from: "2023-01-08T16:00:00Z", to: "2023-01-15T16:00:00Z") { attempts succeeded systemFailures unclassifiedFailures } }`,
  );
  return r.data!.paymentSuccess;
}

describe('importPaymentOutcomes', () => {
  it('imports NDJSON older than the horizon in batches, with exact line numbers across batch edges', async () => {
    const src = await newSource(t);
    const events: (EventInput | string)[] = [];
    for (let i = 1; i <= 23; i++) events.push(i % 5 === 0 ? failed(`n-${i}`, OLD, 'BANK_TIMEOUT') : event(`n-${i}`, OLD));
    events.splice(7, 0, '{"id": "broken", '); // line 8: not JSON
    events.splice(12, 0, ''); // line 13: blank, skipped
    events.push(event('n-3', OLD, { channel: 'alipay' })); // line 26: conflicts with line 3
    const progress: number[] = [];
    const summary = await importPaymentOutcomes(t.app.services.paymentIngest, src.id, Readable.from([ndjson(events)]), {
      format: 'ndjson',
      batchSize: 4,
      onProgress: (p) => progress.push(p.lines),
    });
    expect(summary).toMatchObject({ accepted: 23, duplicates: 0, rejected: 2, lines: 26 });
    expect(summary.rejections.map((r) => [r.line, r.code])).toEqual([
      [8, 'malformed'],
      [26, 'conflict'],
    ]);
    expect(progress.at(-1)).toBe(26);
    expect(progress.length).toBe(7); // 25 items in batches of 4
    expect(await figures(src.id)).toEqual({ FAILED: 4, SUCCEEDED: 19 });
  });

  it('reads CSV: quoted commas, a BOM, extra columns ignored, empty cells absent, a bad record rejected alone', async () => {
    const src = await newSource(t);
    const csv =
      '\ufeffid,occurredAt,direction,channel,status,failureCode,amountMinor,currency,merchant\r\n' +
      `c-1,${OLD},PAY_OUT,"bank, transfer",SUCCEEDED,,1234,CNY,"ACME, Inc."\r\n` +
      `c-2,${OLD},PAY_OUT,icbc,FAILED,BANK_TIMEOUT,,,x\r\n` +
      `c-3,${OLD},PAY_OUT,icbc,SUCCEEDED,,12.5,CNY,x\r\n` + // fractional amount: rejected naming the field
      `c-4,${OLD},PAY_OUT,icbc,"FAILED"x,X,,,x\r\n` + // text after a closing quote: kept as text, so an unknown status
      `c-5,${OLD},PAY_OUT,icbc,FAILED,,,,x\r\n` + // failure without code
      `c-6,${OLD},PAY_OUT,ic"bc,SUCCEEDED,,,,x\r\n` + // a quote inside an unquoted field: text
      `c-8,${OLD},PAY_OUT,icbc,SUCCEEDED,,1e3,CNY,x\r\n` + // a number as JSON may write it: 1000, as in NDJSON
      `c-7,${OLD},PAY_OUT,"icbc,SUCCEEDED,,,,x\r\n`; // a quote left open to the end: unreadable
    const summary = await importPaymentOutcomes(t.app.services.paymentIngest, src.id, Readable.from([Buffer.from(csv)]), { format: 'csv' });
    expect(summary.accepted).toBe(4);
    const byLine = Object.fromEntries(summary.rejections.map((r) => [r.line, r]));
    // Lines of the file: the header is line 1.
    expect(byLine[4]).toMatchObject({ id: 'c-3', field: 'amountMinor' });
    expect(byLine[5]).toMatchObject({ id: 'c-4', field: 'status' });
    expect(byLine[6]).toMatchObject({ id: 'c-5', field: 'failureCode' });
    expect(byLine[9]).toMatchObject({ code: 'malformed' });
    expect(byLine[9]!.reason).toMatch(/line 9 is not valid CSV: Quote Not Closed/);
    expect(summary.rejected).toBe(4);
    const rows: { id: string; channel: string; amount: string | null }[] = await t.db.dataSource.query(
      'SELECT event_id AS id, channel, amount_minor::text AS amount FROM payment_events WHERE source_id = $1 ORDER BY event_id',
      [src.id],
    );
    expect(rows).toEqual([
      { id: 'c-1', channel: 'bank, transfer', amount: '1234' },
      { id: 'c-2', channel: 'icbc', amount: null },
      { id: 'c-6', channel: 'ic"bc', amount: null },
      { id: 'c-8', channel: 'icbc', amount: '1000' },
    ]);
  });

  it('refuses a CSV whose header lacks a required column, committing nothing', async () => {
    const src = await newSource(t);
    const csv = `id,when,direction,channel,status\nh-1,${OLD},PAY_IN,x,SUCCEEDED\n`;
    await expect(importPaymentOutcomes(t.app.services.paymentIngest, src.id, Readable.from([csv]), { format: 'csv' })).rejects.toThrow(/occurredAt/);
    expect(await figures(src.id)).toEqual({});
  });

  it('stops with status 1 on a file that is not CSV given --format csv, and on an empty CSV, writing nothing', async () => {
    const src = await newSource(t);
    const events = ndjson([event('nd-1', OLD), event('nd-2', OLD)]);
    const wrong = await cli(['payment-outcomes', '--source', src.id, '--format', 'csv', file('not.csv', events)]);
    expect(wrong.code).toBe(EXIT.FAILED);
    expect(wrong.stderr).toMatch(/CSV header/);
    const empty = await cli(['payment-outcomes', '--source', src.id, file('empty.csv', '')]);
    expect(empty.code).toBe(EXIT.FAILED);
    expect(empty.stderr).toMatch(/the CSV file is empty: it has no header row/);
    expect(await figures(src.id)).toEqual({});
    const activity: { rejected: number }[] = await t.db.dataSource.query('SELECT coalesce(sum(rejected), 0)::int AS rejected FROM source_ingest_stats WHERE source_id = $1', [src.id]);
    expect(activity[0]!.rejected).toBe(0);
  });

  it('a re-run counts everything as duplicates and the figures do not move; gzip is told by its bytes', async () => {
    const src = await newSource(t, 'rerun-source');
    const before = await week3('PAY_OUT');
    const events = Array.from({ length: 50 }, (_, i) =>
      i % 10 === 0 ? failed(`g-${i}`, OLD, 'CHANNEL_DOWN', { direction: 'PAY_OUT' }) : event(`g-${i}`, OLD, { direction: 'PAY_OUT' }),
    );
    const gz = file('events.ndjson.gz', gzipSync(ndjson(events)));
    const first = await cli(['payment-outcomes', '--source', 'rerun-source', gz, '-q']);
    expect(first).toMatchObject({ code: EXIT.OK });
    expect(first.stdout).toMatch(/50 accepted, 0 duplicates, 0 rejected/);
    const afterFirst = await week3('PAY_OUT');
    expect(afterFirst.attempts - before.attempts).toBe(50);
    expect(afterFirst.unclassifiedFailures - before.unclassifiedFailures).toBe(5);

    // The same file again, renamed .dat and not gzip-named: still read as gzip.
    const again = file('again.dat', fs.readFileSync(gz));
    const second = await cli(['payment-outcomes', '-s', src.id, again, '-q']);
    expect(second.code).toBe(EXIT.OK);
    expect(second.stdout).toMatch(/0 accepted, 50 duplicates, 0 rejected/);
    expect(await week3('PAY_OUT')).toEqual(afterFirst);
  });

  it('an event pushed live and then found again in a backfill is counted once', async () => {
    const src = await newSource(t);
    const recent = new Date(Date.now() - 3_600_000).toISOString();
    const live = await post(t, src.key, ndjson([event('live-1', recent), event('live-2', recent)]));
    expect(live.body).toMatchObject({ accepted: 2 });
    const r = await cli(['payment-outcomes', '--source', src.id, file('backfill.ndjson', ndjson([event('live-1', recent), event('live-3', recent)])), '-q']);
    expect(r.stdout).toMatch(/1 accepted, 1 duplicates/);
    expect(await figures(src.id)).toEqual({ SUCCEEDED: 3 });
  });
});

describe('tally import payment-outcomes', () => {
  it('reports rejected lines with exit status 3 and writes them all to --rejects', async () => {
    const src = await newSource(t);
    const events: (EventInput | string)[] = [event('r-1', OLD), 'nonsense', event('r-3', '2023-01-10T09:30:00'), event('r-4', OLD, { direction: 'SIDEWAYS' as 'PAY_IN' })];
    const rejects = path.join(dir, 'rejects.ndjson');
    const r = await cli(['payment-outcomes', '--source', src.id, '--rejects', rejects, '-q', file('mixed.ndjson', ndjson(events))]);
    expect(r.code).toBe(EXIT.REJECTED);
    expect(r.stdout).toMatch(/1 accepted, 0 duplicates, 3 rejected/);
    expect(r.stderr).toMatch(/line 3 \(id r-3\): invalid occurredAt/);
    const written = fs.readFileSync(rejects, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; field?: string });
    expect(written.map((w) => [w.line, w.field])).toEqual([
      [2, undefined],
      [3, 'occurredAt'],
      [4, 'direction'],
    ]);
  });

  it('reads standard input for "-"', async () => {
    const src = await newSource(t);
    const r = await cli(['payment-outcomes', '--source', src.id, '--format', 'csv', '-'], `id,occurredAt,direction,channel,status\ns-1,${OLD},PAY_IN,x,SUCCEEDED\n`);
    expect(r.code).toBe(EXIT.OK);
    expect(r.stdout).toMatch(/standard input.*1 accepted/);
  });

  it('names what is wrong with the command line, the source or the file', async () => {
    expect(() => parseImportArgs(['payment-outcomes', 'f.ndjson'])).toThrow(/--source is required/);
    expect(() => parseImportArgs(['refunds', '--source', 'x', 'f'])).toThrow(UsageError);
    expect(() => parseImportArgs(['payment-outcomes', '--source', 'x'])).toThrow(/FILE/);
    expect(() => parseImportArgs(['payment-outcomes', '--source', 'x', '--format', 'xml', 'f'])).toThrow(/--format must be ndjson or csv/);
    expect(() => parseImportArgs(['payment-outcomes', '--source', 'x', '--batch-size', '0', 'f'])).toThrow(/--batch-size/);
    expect(() => parseImportArgs(['payment-outcomes', '--source', 'x', '--colour', 'f'])).toThrow(/colour/);
    const args: ImportArgs = parseImportArgs(['payment-outcomes', '--source', 'x', 'data/day.CSV.gz']);
    expect(args).toMatchObject({ format: 'csv', batchSize: 5000 });

    const missing = await cli(['payment-outcomes', '--source', 'no-such-source', file('x.ndjson', '')]);
    expect(missing).toMatchObject({ code: EXIT.USAGE });
    expect(missing.stderr).toMatch(/no source "no-such-source"/);
    const src = await newSource(t);
    const nofile = await cli(['payment-outcomes', '--source', src.id, path.join(dir, 'absent.ndjson')]);
    expect(nofile.code).toBe(EXIT.USAGE);
    expect(nofile.stderr).toMatch(/cannot read .*absent\.ndjson: ENOENT/);
  });

  it('rejects a year-0 instant alone instead of failing its batch', async () => {
    const src = await newSource(t);
    const r = await cli(['payment-outcomes', '--source', src.id, '-q', file('y0.ndjson', ndjson([event('y0', '0000-01-01T00:00:00Z'), event('y1', '0001-01-01T00:00:00+01:00'), event('ok', OLD)]))]);
    expect(r.code).toBe(EXIT.REJECTED);
    expect(r.stdout).toMatch(/1 accepted, 0 duplicates, 2 rejected/);
    expect(r.stderr).toMatch(/line 1 \(id y0\): invalid occurredAt: occurredAt is before 1970/);
  });

  it('says so in one line when --rejects cannot be written, importing nothing', async () => {
    const src = await newSource(t);
    const r = await cli(['payment-outcomes', '--source', src.id, '--rejects', path.join(dir, 'no/such/dir/r.ndjson'), file('r.ndjson', ndjson([event('r', OLD)]))]);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toMatch(/cannot write .*r\.ndjson: ENOENT/);
    expect(await figures(src.id)).toEqual({});
  });

  it('lists CSV rejections in file order whatever the parser reads ahead', async () => {
    const src = await newSource(t);
    const rows = ['id,occurredAt,direction,channel,status'];
    for (let i = 1; i <= 200; i++) {
      if (i === 50 || i === 150) rows.push(`q-${i},${OLD},PAY_IN,x,"SUCCEEDED"?`); // a stray quote: every later record still read
      else if (i === 120) rows.push(`q-${i},${OLD},PAY_IN,x,MAYBE`);
      else rows.push(`q-${i},${OLD},PAY_IN,x,SUCCEEDED`);
    }
    const rejects = path.join(dir, 'csv-rejects.ndjson');
    const r = await cli(['payment-outcomes', '--source', src.id, '--batch-size', '30', '--rejects', rejects, '-q', file('order.csv', rows.join('\n') + '\n')]);
    expect(r.stdout).toMatch(/197 accepted, 0 duplicates, 3 rejected/);
    const lines = fs.readFileSync(rejects, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { line: number }).line);
    expect(lines).toEqual([51, 121, 151]);
  });

  it('rejects NDJSON and CSV lines that are not UTF-8 with their line numbers, plain or gzip, importing the rest', async () => {
    const src = await newSource(t);
    const latin1 = (text: string) => Buffer.from(text, 'latin1'); // é is the single byte 0xe9
    const utf8 = (text: string) => Buffer.from(text);
    const nd = (id: string) => JSON.stringify(event(id, OLD));
    const ndjsonFile = Buffer.concat([utf8(`\ufeff${nd('u-é')}\n`), latin1(`${nd('u-é')}\n`), utf8(`\n${nd('u-è')}\n`), latin1(`${nd('u-è')}\n`)]);
    const header = 'id,occurredAt,direction,channel,status,merchant\r\n';
    const csvFile = Buffer.concat([
      utf8(`\ufeff${header}v-é,${OLD},PAY_IN,card,SUCCEEDED,x\r\n`),
      latin1(`v-é,${OLD},PAY_IN,card,SUCCEEDED,x\r\n`), // line 3: rejected
      utf8(`v-2,${OLD},PAY_IN,"caf`),
      latin1('é'), // line 4: a bad byte in a quoted channel
      utf8(`",SUCCEEDED,x\r\nv-3,${OLD},PAY_IN,card,SUCCEEDED,`),
      latin1('Café\r\n'), // line 5: Latin-1 in a column Tally ignores is not a reason to lose the event
    ]);
    for (const gzip of [false, true]) {
      const suffix = gzip ? '.gz' : '';
      const pack = (b: Buffer) => (gzip ? gzipSync(b) : b);
      const rejects = path.join(dir, `utf8-rejects${suffix}.ndjson`);
      const r = await cli(['payment-outcomes', '--source', src.id, '--rejects', rejects, '-q', file(`latin1.ndjson${suffix}`, pack(ndjsonFile))]);
      expect(r.code).toBe(EXIT.REJECTED);
      expect(r.stdout).toMatch(gzip ? /0 accepted, 2 duplicates, 2 rejected/ : /2 accepted, 0 duplicates, 2 rejected/);
      expect(r.stderr).toMatch(/line 2: malformed: line 2 is not valid UTF-8 \(byte offset 9 in the line: 0xe9\)/);
      const written = fs.readFileSync(rejects, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; code: string; reason: string });
      expect(written.map((w) => [w.line, w.code])).toEqual([
        [2, 'malformed'],
        [5, 'malformed'],
      ]);

      const c = await cli(['payment-outcomes', '--source', src.id, '--format', 'csv', '--rejects', rejects, '-q', file(`latin1.csv${suffix}`, pack(csvFile))]);
      expect(c.code).toBe(EXIT.REJECTED);
      expect(c.stdout).toMatch(gzip ? /0 accepted, 2 duplicates, 2 rejected/ : /2 accepted, 0 duplicates, 2 rejected/);
      expect(c.stderr).toMatch(/line 3: malformed: line 3 is not valid UTF-8 \(column id, byte offset 2 in the field: 0xe9\)/);
      expect(c.stderr).toMatch(/line 4: malformed: line 4 is not valid UTF-8 \(column channel, byte offset 3 in the field: 0xe9\)/);
    }
    const rows: { id: string }[] = await t.db.dataSource.query('SELECT event_id AS id FROM payment_events WHERE source_id = $1 ORDER BY event_id', [src.id]);
    expect(rows.map((r) => r.id)).toEqual(['u-è', 'u-é', 'v-3', 'v-é']);
  });

  it('stops with status 1 on a CSV whose header is not UTF-8, writing nothing', async () => {
    const src = await newSource(t);
    const utf16 = Buffer.from(`\ufeffid,occurredAt,direction,channel,status\r\nw-1,${OLD},PAY_IN,card,SUCCEEDED\r\n`, 'utf16le');
    const r = await cli(['payment-outcomes', '--source', src.id, '-q', file('utf16.csv', utf16)]);
    expect(r.code).toBe(EXIT.FAILED);
    expect(r.stderr).toMatch(/the CSV header \(column 1\) is not valid UTF-8 \(byte offset 0: 0xff\); the file must be UTF-8 text/);
    expect(await figures(src.id)).toEqual({});
  });

  it('a corrupt gzip stops with status 1 and keeps the batches committed before it', async () => {
    const src = await newSource(t);
    const good = gzipSync(ndjson(Array.from({ length: 30 }, (_, i) => event(`z-${i}`, OLD))));
    const truncated = file('cut.ndjson.gz', good.subarray(0, good.length - 12));
    const r = await cli(['payment-outcomes', '--source', src.id, '--batch-size', '10', '-q', truncated]);
    expect(r.code).toBe(EXIT.FAILED);
    expect(r.stderr).toMatch(/import stopped: .*(unexpected end|incorrect header|end of file)/i);
    expect(r.stderr).toMatch(/fix the file and import it again/);
  });
});
