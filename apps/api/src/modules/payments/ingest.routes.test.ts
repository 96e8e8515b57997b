import { describe, expect, it } from 'vitest';
import { forEachNdjsonItem } from './ingest.routes.js';
import type { RawItem } from './ingest.service.js';

/** The items forEachNdjsonItem hands over, in order. */
async function decodeNdjsonBody(body: Buffer): Promise<RawItem[]> {
  const items: RawItem[] = [];
  await forEachNdjsonItem(body, (item) => items.push(item));
  return items;
}

const line = (i: number, pad = '') => JSON.stringify({ id: `e-${i}`, note: pad });

describe('forEachNdjsonItem', () => {
  it('numbers lines 1-based across the 64 KiB pieces it decodes, with multi-byte text at every boundary', async () => {
    // ~300 KB of lines whose text is Chinese (3 bytes a character): piece ends fall near them.
    const lines = Array.from({ length: 2_000 }, (_, i) => line(i, '支付渠道'.repeat(i % 13)));
    const items = await decodeNdjsonBody(Buffer.from(lines.join('\n') + '\n'));
    expect(items).toHaveLength(2_000);
    items.forEach((item, i) => expect(item).toEqual({ line: i + 1, value: JSON.parse(lines[i]!) }));
  });

  it('keeps line numbers through blank lines, CRLF, a byte-order mark and a malformed line', async () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${line(1)}\r\n\n  \n{"id": oops\n${line(5)}`)]);
    const items = await decodeNdjsonBody(body);
    expect(items.map((i) => i.line)).toEqual([1, 4, 5]);
    expect(items[0]).toEqual({ line: 1, value: { id: 'e-1', note: '' } });
    expect(items[1]).toMatchObject({ line: 4, malformed: expect.stringContaining('line 4 is not valid JSON') });
    expect(items[2]).toEqual({ line: 5, value: { id: 'e-5', note: '' } });
  });

  it('rejects lines that cannot be JSON by their first character, and still reads indented and bare JSON values', async () => {
    const body = [
      'x', // 1
      '<html><body>502 Bad Gateway</body></html>', // 2
      'id,occurredAt,direction', // 3
      `\t${line(4)}`, // 4: JSON whitespace first
      `\u00a0\u3000${line(5)}`, // 5: other whitespace first (trimmed, then parsed)
      'true', // 6: JSON, not an event (the validation rejects it)
      '-1', // 7
      '"text"', // 8
      '[1]', // 9
      '{"id": "broken"', // 10: starts as JSON, is not
      '\u00a0', // 11: nothing but whitespace: skipped
      'null', // 12
      '\ufffdx', // 13: a replacement character first (as sent: valid UTF-8)
      'é{}', // 14
    ].join('\n');
    const items = await decodeNdjsonBody(Buffer.from(body));
    const shape = items.map((i) => ('malformed' in i ? [i.line, i.malformed] : [i.line, i.value]));
    expect(shape).toEqual([
      [1, 'line 1 is not valid JSON: it begins with "x"'],
      [2, 'line 2 is not valid JSON: it begins with "<"'],
      [3, 'line 3 is not valid JSON: it begins with "i"'],
      [4, { id: 'e-4', note: '' }],
      [5, { id: 'e-5', note: '' }],
      [6, true],
      [7, -1],
      [8, 'text'],
      [9, [1]],
      [10, expect.stringMatching(/^line 10 is not valid JSON: .+/)],
      [12, null],
      [13, 'line 13 is not valid JSON: it begins with "\ufffd"'],
      [14, 'line 14 is not valid JSON: it begins with "é"'],
    ]);
  });

  it('decodes a line longer than a piece whole', async () => {
    const long = line(2, 'x'.repeat(200_000));
    const items = await decodeNdjsonBody(Buffer.from(`${line(1)}\n${long}\n${line(3)}\n`));
    expect(items.map((i) => ('value' in i ? (i.value as { id: string }).id : i.malformed))).toEqual(['e-1', 'e-2', 'e-3']);
    expect((items[1] as { value: { note: string } }).value.note).toHaveLength(200_000);
  });

  it('rejects each line that is not UTF-8 alone, keeping the numbers and text of the others across pieces', async () => {
    // Lines of Chinese text around 64 KiB piece ends, a Latin-1 byte in some of them.
    const lines = Array.from({ length: 2_000 }, (_, i) => line(i, '支付渠道'.repeat(i % 13)));
    const bad = new Set([0, 700, 701, 1_999]);
    // `{"id":"` then 0xe9 (é in Latin-1) where the id begins.
    const latin1 = (l: string) => Buffer.concat([Buffer.from(l.slice(0, 7)), Buffer.from([0xe9]), Buffer.from(l.slice(7))]);
    const body = Buffer.concat(lines.map((l, i) => Buffer.concat([bad.has(i) ? latin1(l) : Buffer.from(l), Buffer.from('\n')])));
    const items = await decodeNdjsonBody(body);
    expect(items).toHaveLength(2_000);
    items.forEach((item, i) => {
      if (bad.has(i)) expect(item).toEqual({ line: i + 1, malformed: `line ${i + 1} is not valid UTF-8 (byte offset 7 in the line: 0xe9); send UTF-8 text` });
      else expect(item).toEqual({ line: i + 1, value: JSON.parse(lines[i]!) });
    });
  });

  it('finds nothing in a body of blank lines', async () => {
    expect(await decodeNdjsonBody(Buffer.from('\n \r\n\n'))).toEqual([]);
  });
});
