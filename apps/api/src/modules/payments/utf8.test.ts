import { describe, expect, it } from 'vitest';
import { contentTypeCharset, invalidUtf8Offset, isUtf8Charset } from './utf8.js';

const fatal = new TextDecoder('utf-8', { fatal: true });
const decodes = (b: Uint8Array) => {
  try {
    fatal.decode(b);
    return true;
  } catch {
    return false;
  }
};

describe('invalidUtf8Offset', () => {
  it('finds the first bad byte of Latin-1, cut, overlong, surrogate and out-of-range sequences', () => {
    expect(invalidUtf8Offset(Buffer.from('col-é 银联 😀'))).toBe(-1);
    expect(invalidUtf8Offset(Buffer.from('col-\xe9', 'latin1'))).toBe(4);
    expect(invalidUtf8Offset(Buffer.from([0x61, 0xe9, 0x94]))).toBe(1); // a 3-byte character cut short
    expect(invalidUtf8Offset(Buffer.from([0x61, 0xc0, 0xaf]))).toBe(1); // overlong '/'
    expect(invalidUtf8Offset(Buffer.from([0xe0, 0x80, 0xaf]))).toBe(0); // overlong, 3 bytes
    expect(invalidUtf8Offset(Buffer.from([0x41, 0xed, 0xa0, 0x80]))).toBe(1); // U+D800
    expect(invalidUtf8Offset(Buffer.from([0xf4, 0x90, 0x80, 0x80]))).toBe(0); // above U+10FFFF
    expect(invalidUtf8Offset(Buffer.from([0x41, 0x42, 0x80]))).toBe(2); // a stray continuation byte
  });

  it('agrees with a fatal TextDecoder on random bytes', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed);
    for (let n = 0; n < 5_000; n++) {
      // Mostly valid text with a few random bytes, so both answers occur often.
      const text = Buffer.from(`id-${n}-é-银-😀`);
      const bytes = Buffer.concat([text, Buffer.from(Array.from({ length: rand() % 4 }, () => rand() % 256)), text]);
      const offset = invalidUtf8Offset(bytes);
      expect(offset === -1).toBe(decodes(bytes));
      if (offset !== -1) {
        expect(decodes(bytes.subarray(0, offset))).toBe(true);
      }
    }
  });
});

describe('contentTypeCharset', () => {
  it('reads the charset parameter, quoted or not, in any case', () => {
    expect(contentTypeCharset('application/x-ndjson')).toBeNull();
    expect(contentTypeCharset('application/x-ndjson; charset=iso-8859-1')).toBe('iso-8859-1');
    expect(contentTypeCharset('application/json;CHARSET="UTF-8"')).toBe('utf-8');
    expect(contentTypeCharset('application/json; foo=bar; charset = utf-16 ')).toBe('utf-16');
    expect(isUtf8Charset('utf8')).toBe(true);
    expect(isUtf8Charset('utf-16')).toBe(false);
  });
});
