import { isUtf8 } from 'node:buffer';

/**
 * Where the first byte that is not well-formed UTF-8 sits in `bytes` (0-based), or -1 when all
 * of it is UTF-8. Decoding with `toString('utf8')` would turn such bytes into U+FFFD, so two
 * different ids (`col-\xe9`, `col-\xe8`) would become one and a real event would be counted as
 * a duplicate: callers reject the text instead. `isUtf8` (simdutf) answers the usual case; the
 * byte-by-byte walk, after the rules of the Unicode standard (table 3-7: no overlong forms, no
 * surrogates, nothing above U+10FFFF), only runs to say where a bad text goes wrong.
 */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  if (isUtf8(bytes)) return -1;
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0; // overlong
      if (b === 0xed) hi = 0x9f; // UTF-16 surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90; // overlong
      if (b === 0xf4) hi = 0x8f; // above U+10FFFF
    } else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i;
    }
    i += need + 1;
  }
  return -1; // isUtf8 and this walk follow the same rules, so a bad text returns above
}

/** A byte as people read it in a hex dump: 0xe9 is é in Latin-1, 0xff or 0xfe a UTF-16 byte-order mark. */
export const hexByte = (b: number) => `0x${b.toString(16).padStart(2, '0')}`;

/** Why a line was refused: the offset is within the line, with the byte, which tells Latin-1 (0xe9 is é) from a cut character. */
export function notUtf8Reason(line: number, bytes: Uint8Array, offset: number): string {
  return `line ${line} is not valid UTF-8 (byte offset ${offset} in the line: ${hexByte(bytes[offset]!)}); send UTF-8 text`;
}

/**
 * The charset a Content-Type header names, lower-cased and unquoted, or null when it names none.
 * `charset` is the only parameter read; others pass.
 */
export function contentTypeCharset(header: string): string | null {
  const m = /;\s*charset\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/i.exec(header);
  if (!m) return null;
  return (m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!).trim().toLowerCase();
}

/** UTF-8 under the names senders use; everything else would need a decoder Tally does not run. */
export const isUtf8Charset = (charset: string) => charset === 'utf-8' || charset === 'utf8';
