import { isUtf8 } from 'node:buffer';
import express, { type Request, type Response, type Router } from 'express';
import { isConnectionError } from '@tally/db';
import type { Logger } from 'pino';
import type { SourcesService } from '../sources/sources.service.js';
import { IngestContendedError, type IngestInput, type PaymentIngestService, type RawItem } from './ingest.service.js';
import { contentTypeCharset, hexByte, invalidUtf8Offset, isUtf8Charset, notUtf8Reason } from './utf8.js';

/** Bytes of text decoded at a time (see forEachNdjsonItem). */
const CHUNK_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

/** 3 when the body starts with the UTF-8 byte-order mark some exporters write (not part of the first event), else 0. */
const bomLength = (body: Buffer) => (body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0);

/**
 * Splits an NDJSON body into items, handing each to `take` as soon as its piece is decoded; a
 * line that is not JSON is rejected alone, blank lines are skipped, a leading byte-order mark
 * is dropped. Decoded to text about 64 KiB at a time, each piece ending at a line break (a
 * newline byte is never part of a multi-byte UTF-8 character): one string of a whole 1 MiB body
 * cost V8 about 0.6 µs per event to allocate, 30 times what the pieces cost
 * (docs/benchmarks.md). The ingest validates each item in `take`, so a piece's parsed objects
 * are garbage before the next piece is parsed instead of all living until the body is done.
 * Between pieces it awaits `pause` (by default it gives the event loop back), so other
 * requests' transactions (holding counter rows) are not kept waiting for their next statement;
 * the ingest's `pause` also lets small requests overtake a large one at validating.
 *
 * A line that is not UTF-8 is rejected alone: decoding it would replace its bad bytes with
 * U+FFFD and merge distinct ids. The whole body is checked once with isUtf8 (simdutf: 6–13 ms
 * for 167 MiB, about 1% of decoding it); only a body that fails is checked piece by piece, and a
 * failing piece line by line.
 */
export async function forEachNdjsonItem(body: Buffer, take: (item: RawItem) => void, pause: () => Promise<void> = yieldToEventLoop): Promise<void> {
  let line = 0;
  let start = bomLength(body);
  const allUtf8 = isUtf8(body.subarray(start));
  while (start < body.length) {
    let end = start + CHUNK_BYTES >= body.length ? body.length : body.lastIndexOf(NEWLINE, start + CHUNK_BYTES);
    if (end < start) {
      // A line longer than a piece: decode up to its end.
      end = body.indexOf(NEWLINE, start + CHUNK_BYTES);
      if (end === -1) end = body.length;
    }
    line =
      allUtf8 || isUtf8(body.subarray(start, end))
        ? decodeLines(body.toString('utf8', start, end), line, take)
        : decodeLinesOneByOne(body, start, end, line, take);
    start = end + 1;
    if (start < body.length) await pause();
  }
}

/** Whether a body holds nothing but whitespace (and a byte-order mark). */
export function isBlank(body: Buffer): boolean {
  for (let i = bomLength(body); i < body.length; i++) {
    const b = body[i];
    if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return false;
  }
  return true;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Like decodeLines over the bytes `body[start, end)`, rejecting each line that is not UTF-8 as malformed. */
function decodeLinesOneByOne(body: Buffer, start: number, end: number, line: number, take: (item: RawItem) => void): number {
  while (start <= end) {
    let lineEnd = body.indexOf(NEWLINE, start);
    if (lineEnd === -1 || lineEnd > end) lineEnd = end;
    const bytes = body.subarray(start, lineEnd);
    const bad = invalidUtf8Offset(bytes);
    if (bad === -1) {
      line = decodeLines(bytes.toString('utf8'), line, take);
    } else {
      line++;
      take({ line, malformed: notUtf8Reason(line, bytes, bad) });
    }
    start = lineEnd + 1;
  }
  return line;
}

/** Decodes every line of `text` into `take`, numbering them on from `line`; returns the last line's number. */
function decodeLines(text: string, line: number, take: (item: RawItem) => void): number {
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    line++;
    if (end > start) {
      const slice = text.slice(start, end);
      // JSON.parse skips JSON whitespace itself, so the usual line needs no trimmed copy.
      const parsed = cannotStartJson(slice.charCodeAt(0)) ? notJson(`it begins with ${JSON.stringify(slice[0])}`) : parseJson(slice);
      if (parsed !== NOT_JSON) take({ line, value: parsed });
      else {
        // Other whitespace (a no-break space, a byte-order mark) is not part of the event either;
        // a line of nothing but whitespace is skipped.
        const raw = slice.trim();
        const again = raw === slice || !raw ? NOT_JSON : parseJson(raw);
        if (again !== NOT_JSON) take({ line, value: again });
        else if (raw) take({ line, malformed: `line ${line} is not valid JSON: ${lastJsonError}` });
      }
    }
    start = end + 1;
  }
  return line;
}

const NOT_JSON = Symbol('not JSON');
let lastJsonError = '';

function notJson(reason: string): typeof NOT_JSON {
  lastJsonError = reason;
  return NOT_JSON;
}

/**
 * Whether a line starting with this UTF-16 unit is not JSON, with no need to parse it: not a
 * character a JSON text can start with (`{ [ " - 0-9 t f n`) nor whitespace of any kind (a
 * line may be indented). A CSV file or an HTML page sent as NDJSON is rejected at ~1 µs a
 * line this way.
 */
function cannotStartJson(c: number): boolean {
  if (c === 0x7b) return false; // '{': every event
  if (c <= 0x20 || c === 0x5b || c === 0x22 || c === 0x2d || (c >= 0x30 && c <= 0x39) || c === 0x74 || c === 0x66 || c === 0x6e) return false;
  return c < 0x80 || !/\s/.test(String.fromCharCode(c));
}

/**
 * JSON.parse, answering NOT_JSON (and the reason in lastJsonError) instead of throwing with a
 * stack trace: a failed parse cost 5–7 µs with one, 2.5 µs without. A 16 MiB body of 5.6
 * million lines that are not JSON held the ingest's single validation slot for 88 s, two
 * failed parses a line (docs/benchmarks.md, "Bad bodies"). The reason is read right after,
 * synchronously, so one module-level slot is enough.
 */
function parseJson(text: string): unknown {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return JSON.parse(text);
  } catch (err) {
    lastJsonError = (err as Error).message;
    return NOT_JSON;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function send(res: Response, status: number, error: string, headers: Record<string, string> = {}) {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.status(status).json({ error });
}

/**
 * `POST /v1/ingest/payment-outcomes`: NDJSON or a JSON array, optionally gzip-compressed.
 * Whole-request failures apply nothing (401, 403, 413, 415, 400, 503); otherwise 200 with
 * what was accepted, duplicate and rejected, line by line.
 */
export function ingestRoutes(deps: {
  sources: SourcesService;
  ingest: PaymentIngestService;
  log: Logger;
  maxBodyBytes: number;
  maxConcurrent: number;
}): Router {
  const router = express.Router();
  let inFlight = 0;
  const body = express.raw({ type: () => true, limit: deps.maxBodyBytes, inflate: true });

  router.post('/v1/ingest/payment-outcomes', async (req: Request, res: Response) => {
    // Saturation is answered before any work, so a slow database is not made slower.
    if (inFlight >= deps.maxConcurrent) return send(res, 503, 'ingest is saturated; retry shortly', { 'retry-after': '1' });
    inFlight++;
    try {
      let auth;
      try {
        const named = req.header('x-tally-source') ?? (typeof req.query.sourceId === 'string' ? req.query.sourceId : undefined);
        auth = await deps.sources.authenticateIngest(req.header('authorization'), 'PAYMENT_EVENTS', named);
      } catch (err) {
        if (isConnectionError(err)) return send(res, 503, 'the database is unavailable; retry shortly', { 'retry-after': '5' });
        throw err;
      }
      if (!('source' in auth)) return send(res, auth.status, auth.message);

      const contentType = req.header('content-type') ?? '';
      const type = contentType.split(';')[0]!.trim().toLowerCase();
      const ndjson = type === 'application/x-ndjson' || type === 'application/ndjson';
      if (!ndjson && type !== 'application/json') {
        return send(res, 415, 'Content-Type must be application/x-ndjson (one event a line) or application/json (an array of events)');
      }
      // Only UTF-8 is read: decoding another charset as UTF-8 would mangle or merge ids (as
      // /graphql, which refuses other charsets with 415 too).
      const charset = contentTypeCharset(contentType);
      if (charset !== null && !isUtf8Charset(charset)) {
        return send(res, 415, `charset "${charset}" is not supported: the body must be UTF-8 (send charset=utf-8 or no charset)`);
      }
      const buffer = await new Promise<Buffer>((resolve, reject) => {
        body(req, res, (err?: unknown) => (err ? reject(err) : resolve(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0))));
      }).catch((err: { status?: number; type?: string; message?: string }) => {
        if (err.type === 'entity.too.large') send(res, 413, `body larger than ${deps.maxBodyBytes} bytes (after decompression); split it into smaller requests`);
        else if (err.type === 'encoding.unsupported') send(res, 415, 'Content-Encoding must be gzip, deflate, br or absent');
        else send(res, 400, 'body could not be read (corrupt gzip?)');
        return null;
      });
      if (!buffer) return;
      let items: IngestInput;
      if (ndjson) {
        if (isBlank(buffer)) return send(res, 400, 'empty body: send at least one event');
        // Decoded in the ingest's validation stage (one request at a time, see PaymentIngestService.ingest).
        items = (take, pause) => forEachNdjsonItem(buffer, take, pause);
      } else {
        // One array is one text: a bad byte leaves no element that can be judged apart, so the
        // request is refused rather than decoded into U+FFFD.
        const bad = invalidUtf8Offset(buffer);
        if (bad !== -1) {
          return send(res, 400, `body is not valid UTF-8 (byte offset ${bad}: ${hexByte(buffer[bad]!)}); nothing was applied; send UTF-8 text`);
        }
        // A byte-order mark some exporters write is not part of the first event.
        const text = buffer.toString('utf8').replace(/^\uFEFF/, '');
        if (!text.trim()) return send(res, 400, 'empty body: send at least one event');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch (err) {
          return send(res, 400, `body is not valid JSON: ${(err as Error).message}`);
        }
        if (!Array.isArray(parsed)) return send(res, 400, 'an application/json body must be an array of events');
        items = parsed.map((value, i) => ({ line: i + 1, value }));
      }

      try {
        const result = await deps.ingest.ingest(auth.source.id, items, { bodyBytes: buffer.length });
        res.json(result);
      } catch (err) {
        // Not "nothing was applied": a connection lost just after its COMMIT reached the server
        // leaves the events stored. The retry is safe either way.
        if (isConnectionError(err)) return send(res, 503, 'the database is unavailable; retry: events this request did store are then reported as duplicates, so each counts once', { 'retry-after': '5' });
        if (err instanceof IngestContendedError) return send(res, 503, `${err.message}; nothing of this request was applied`, { 'retry-after': '1' });
        throw err;
      }
    } catch (err) {
      req.log?.error({ err }, 'ingest failed');
      if (!res.headersSent) send(res, 500, 'internal server error; nothing of this request was applied');
    } finally {
      inFlight--;
    }
  });
  return router;
}
