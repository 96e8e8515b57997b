import { describe, expect, it } from 'vitest';
import { binaryCopyOfEvents, uuidBytes } from './copy-binary.js';

describe('binaryCopyOfEvents', () => {
  it('writes PostgreSQL binary COPY: signature, one tuple of 8 fields per event, trailer', () => {
    const source = '0f8fad5b-d9cb-469f-a165-70867728950e';
    const buf = binaryCopyOfEvents(source, [
      // 2000-01-01T00:00:01.5Z: 1,500,000 µs after PostgreSQL's epoch.
      { id: 'é1', occurredAt: new Date('2000-01-01T00:00:01.500Z'), direction: 'PAY_IN', channel: 'c', failureCode: null, amountMinor: 2 ** 40 + 7, currency: null },
      // Before 2000: a negative instant.
      { id: 'x', occurredAt: new Date('1999-12-31T23:59:59Z'), direction: 'PAY_OUT', channel: '渠道', failureCode: 'E', amountMinor: null, currency: 'CNY' },
      // ASCII then not (copied byte by byte, then written again as UTF-8), a surrogate pair, a long value.
      { id: 'abc€', occurredAt: new Date(0), direction: 'PAY_IN', channel: 'a😀', failureCode: 'L'.repeat(100), amountMinor: 0, currency: 'USD' },
    ]);
    let at = 0;
    const take = (n: number) => buf.subarray(at, (at += n));
    const int32 = () => take(4).readInt32BE(0);
    const text = () => {
      const n = int32();
      return n === -1 ? null : take(n).toString('utf8');
    };
    const int64 = () => (int32() === 8 ? take(8).readBigInt64BE(0) : null);
    expect(take(11).toString('latin1')).toBe('PGCOPY\n\xff\r\n\0');
    expect([int32(), int32()]).toEqual([0, 0]);
    const tuple = () => {
      expect(take(2).readInt16BE(0)).toBe(8);
      expect(int32()).toBe(16);
      expect(take(16)).toEqual(uuidBytes(source));
      return [text(), int64(), text(), text(), text(), int64(), text()];
    };
    expect(tuple()).toEqual(['é1', 1_500_000n, 'PAY_IN', 'c', null, BigInt(2 ** 40 + 7), null]);
    expect(tuple()).toEqual(['x', -1_000_000n, 'PAY_OUT', '渠道', 'E', null, 'CNY']);
    expect(tuple()).toEqual(['abc€', -946_684_800_000_000n, 'PAY_IN', 'a😀', 'L'.repeat(100), 0n, 'USD']);
    expect(take(2).readInt16BE(0)).toBe(-1);
    expect(at).toBe(buf.length);
  });

  it('refuses a source id that is not a UUID', () => {
    expect(() => uuidBytes('not-a-uuid')).toThrow(/not a UUID/);
  });
});
