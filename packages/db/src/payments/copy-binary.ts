import type { PaymentEventRow } from './payment-events.repository.js';

/**
 * PostgreSQL's binary COPY format for payment events (source_id uuid, event_id text,
 * occurred_at timestamptz, direction text, channel text, failure_code text, amount_minor int8,
 * currency text), written straight into one Buffer.
 *
 * Why binary rather than text: in text format every instant is formatted here
 * (`toISOString`) and parsed again by PostgreSQL, every number likewise, and every value is
 * scanned for characters to escape; binary sends an instant as the 8-byte integer PostgreSQL
 * stores and text as its UTF-8 bytes with a length. It cut both the API's and the server's
 * CPU per event (docs/benchmarks.md). See "Binary Format" in PostgreSQL's COPY documentation.
 */

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const FIELDS = 8;
/** Microseconds from 1970-01-01 to PostgreSQL's epoch 2000-01-01 (UTC). */
const PG_EPOCH_US = 946_684_800_000_000;
const TWO_32 = 4_294_967_296;

/** The 16 bytes of a UUID written as 8-4-4-4-12 hex digits. */
export function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`not a UUID: ${uuid}`);
  return Buffer.from(hex, 'hex');
}

/** A big-endian 32-bit integer at `at` (the Buffer methods check their arguments: ~5 ns a call more). */
function int32(buf: Buffer, n: number, at: number): void {
  buf[at] = n >>> 24;
  buf[at + 1] = n >>> 16;
  buf[at + 2] = n >>> 8;
  buf[at + 3] = n;
}

/** A signed 64-bit integer (exact for |n| ≤ 2^53) at `at`, big-endian. */
function writeInt64(buf: Buffer, n: number, at: number): void {
  const hi = Math.floor(n / TWO_32);
  int32(buf, hi, at);
  int32(buf, n - hi * TWO_32, at + 4);
}

/** Strings up to this length are tried as ASCII, byte by byte (see writeText). */
const SHORT_TEXT = 64;

/**
 * Writes a text field (length, then UTF-8 bytes) or NULL; returns the new offset. A short ASCII
 * string (ids, channels, codes, currencies: nearly every value) is copied in this loop:
 * Buffer#write crosses into C++ for every value, which cost ~0.1 µs each, five times an event.
 */
function writeText(buf: Buffer, v: string | null, at: number): number {
  if (v === null) {
    int32(buf, -1, at);
    return at + 4;
  }
  const n = v.length;
  if (n <= SHORT_TEXT) {
    let k = 0;
    for (; k < n; k++) {
      const c = v.charCodeAt(k);
      if (c > 0x7f) break;
      buf[at + 4 + k] = c;
    }
    if (k === n) {
      int32(buf, n, at);
      return at + 4 + n;
    }
  }
  const bytes = buf.write(v, at + 4, 'utf8');
  buf.writeInt32BE(bytes, at);
  return at + 4 + bytes;
}

/** The whole COPY … FROM STDIN (FORMAT binary) stream of `events` for one source. */
export function binaryCopyOfEvents(sourceId: string, events: readonly PaymentEventRow[]): Buffer {
  const source = uuidBytes(sourceId);
  // Upper bound of the size: fixed parts, and 3 bytes per UTF-16 unit of text (the most UTF-8 takes).
  let size = SIGNATURE.length + 8 + 2;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    size += 2 + FIELDS * 4 + 16 + 8 + 8;
    size += 3 * (e.id.length + e.direction.length + e.channel.length + (e.failureCode?.length ?? 0) + (e.currency?.length ?? 0));
  }
  const buf = Buffer.allocUnsafe(size);
  let at = SIGNATURE.copy(buf, 0);
  buf.writeInt32BE(0, at); // flags: no OIDs
  buf.writeInt32BE(0, at + 4); // header extension length
  at += 8;
  // Each tuple starts with the field count and the source id, the same 22 bytes every time:
  // copied byte by byte, as Buffer#copy crosses into C++ (~60 ns an event).
  const head = Buffer.alloc(22);
  head.writeInt16BE(FIELDS, 0);
  head.writeInt32BE(16, 2);
  source.copy(head, 6);
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    for (let k = 0; k < 22; k++) buf[at + k] = head[k]!;
    at = writeText(buf, e.id, at + 22);
    int32(buf, 8, at);
    writeInt64(buf, e.occurredAt.getTime() * 1000 - PG_EPOCH_US, at + 4);
    at = writeText(buf, e.direction, at + 12);
    at = writeText(buf, e.channel, at);
    at = writeText(buf, e.failureCode, at);
    if (e.amountMinor === null) {
      int32(buf, -1, at);
      at += 4;
    } else {
      int32(buf, 8, at);
      writeInt64(buf, e.amountMinor, at + 4);
      at += 12;
    }
    at = writeText(buf, e.currency, at);
  }
  buf.writeInt16BE(-1, at); // trailer
  return buf.subarray(0, at + 2);
}
