import { describe, expect, it } from 'vitest';
import { CsvSplitter, LineSplitter, type FileRecord } from '../../src/import/records.js';

function split(make: () => CsvSplitter | LineSplitter, bytes: Buffer, cuts: number[]): FileRecord[] {
  const splitter = make();
  const out: FileRecord[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(...splitter.feed(bytes.subarray(from, cut)));
    from = cut;
  }
  return [...out, ...splitter.end()];
}

const CSV = Buffer.concat([
  Buffer.from([0xef, 0xbb, 0xbf]),
  Buffer.from('id,name,note\r\n1,"Lovelace, Ada","said ""hi""\r\nthen left"\r\n\r\n2,plain,x"y\n'),
  Buffer.from('3,"bad"x,z\n4,'),
  Buffer.from([0xff]),
  Buffer.from(',z\n5,"é ünïcode",last'),
]);

describe('the CSV splitter', () => {
  const whole = split(() => new CsvSplitter(1_000), CSV, []);

  it('reads quoted fields, doubled quotes, line breaks inside quotes, CRLF and a BOM, and reports bad records by line', () => {
    expect(whole).toEqual([
      { line: 1, fields: ['id', 'name', 'note'] },
      { line: 2, fields: ['1', 'Lovelace, Ada', 'said "hi"\r\nthen left'] },
      { line: 5, fields: ['2', 'plain', 'x"y'] },
      { line: 6, error: 'a character after the closing quote of a field' },
      { line: 7, error: 'not valid UTF-8' },
      { line: 8, fields: ['5', 'é ünïcode', 'last'] },
    ]);
  });

  it('gives the same records wherever the chunks are cut', () => {
    for (let a = 0; a <= CSV.length; a++) {
      expect(split(() => new CsvSplitter(1_000), CSV, [a]), `cut at ${a}`).toEqual(whole);
      expect(split(() => new CsvSplitter(1_000), CSV, [Math.floor(a / 2), a]), `cuts at ${Math.floor(a / 2)}, ${a}`).toEqual(whole);
    }
  });

  it('skips a record past the size limit to its end, quotes included, without holding it', () => {
    const big = Buffer.from(`a,b\n1,"${'x'.repeat(5_000)}\n,still quoted"\n2,ok\n`);
    expect(split(() => new CsvSplitter(100), big, [10, 2_000, 4_000])).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 2, error: 'a record longer than 100 bytes' },
      { line: 4, fields: ['2', 'ok'] },
    ]);
  });

  it('reports a quoted field that never ends', () => {
    expect(split(() => new CsvSplitter(100), Buffer.from('a\n"open\nmore\n'), [])).toEqual([
      { line: 1, fields: ['a'] },
      { line: 2, error: 'a quoted field that never ends' },
    ]);
  });
});

describe('the line splitter', () => {
  it('splits LF and CRLF lines across chunks, skips blank ones, and reports long and non-UTF-8 lines', () => {
    const bytes = Buffer.concat([Buffer.from('{"a":1}\r\n\n   \n'), Buffer.from('y'.repeat(50)), Buffer.from('\n'), Buffer.from([0xc3]), Buffer.from('\n{"b":2}')]);
    const expected = [
      { line: 1, fields: ['{"a":1}'] },
      { line: 4, error: 'a line longer than 20 bytes' },
      { line: 5, error: 'not valid UTF-8' },
      { line: 6, fields: ['{"b":2}'] },
    ];
    for (let a = 0; a <= bytes.length; a++) expect(split(() => new LineSplitter(20), bytes, [a]), `cut at ${a}`).toEqual(expected);
  });
});
