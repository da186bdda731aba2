import { isUtf8 } from 'node:buffer';

/** A record of a file: its fields as text, or why it cannot be read; `line` is where it starts (from 1). */
export type FileRecord = { line: number; fields: string[] } | { line: number; error: string };

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

const enum State {
  FieldStart,
  Unquoted,
  Quoted,
  QuoteInQuoted,
}

/**
 * Splits CSV (RFC 4180: quoted fields with "" for a quote and line breaks inside, LF or CRLF) into records,
 * chunk by chunk, holding at most `maxRecordBytes` of one record: a longer record is skipped to its end
 * and reported, as is one that is not UTF-8; the records after it are read as usual.
 */
export class CsvSplitter {
  private readonly bytes: Buffer;
  private length = 0;
  private ends: number[] = [];
  private state = State.FieldStart;
  private line = 1;
  private recordLine = 1;
  private problem: string | undefined;
  /** Bytes of a leading byte-order mark seen so far; -1 once past the start of the input. */
  private bomSeen = 0;

  constructor(private readonly maxRecordBytes: number) {
    this.bytes = Buffer.alloc(maxRecordBytes);
  }

  feed(chunk: Uint8Array): FileRecord[] {
    const out: FileRecord[] = [];
    const n = chunk.length;
    let i = 0;
    // A byte-order mark, as spreadsheets write it, is dropped, even when split between chunks.
    while (this.bomSeen >= 0 && i < n) {
      if (chunk[i] === BOM[this.bomSeen]) {
        i += 1;
        this.bomSeen = this.bomSeen === 2 ? -1 : this.bomSeen + 1;
      } else {
        // Not a byte-order mark after all: what was taken for one is data.
        if (this.bomSeen > 0) {
          this.append(BOM, 0, this.bomSeen);
          this.state = State.Unquoted;
        }
        this.bomSeen = -1;
      }
    }
    while (i < n) {
      if (this.state === State.Quoted) {
        // Up to the next quote in one copy; the line breaks inside still count as lines.
        const quote = chunk.indexOf(QUOTE, i);
        const to = quote === -1 ? n : quote;
        this.line += countLineFeeds(chunk, i, to);
        this.append(chunk, i, to);
        if (quote !== -1) this.state = State.QuoteInQuoted;
        i = to + 1;
        continue;
      }
      const c = chunk[i]!;
      if (this.state === State.QuoteInQuoted) {
        if (c === QUOTE) {
          this.append(chunk, i, i + 1);
          this.state = State.Quoted;
        } else if (c === COMMA) this.endField();
        else if (c === LF) this.endRecord(out);
        else if (c !== CR) {
          this.problem ??= 'a character after the closing quote of a field';
          this.state = State.Unquoted;
        }
        i += 1;
      } else if (c === COMMA) {
        this.endField();
        i += 1;
      } else if (c === LF) {
        this.endRecord(out);
        i += 1;
      } else if (c === CR) i += 1;
      else if (c === QUOTE && this.state === State.FieldStart) {
        this.state = State.Quoted;
        i += 1;
      } else {
        // An unquoted run, up to the next comma or line end, in one copy (a quote inside it is a character).
        let j = i + 1;
        while (j < n && chunk[j] !== COMMA && chunk[j] !== LF && chunk[j] !== CR) j += 1;
        this.append(chunk, i, j);
        this.state = State.Unquoted;
        i = j;
      }
    }
    return out;
  }

  end(): FileRecord[] {
    const out: FileRecord[] = [];
    if (this.state === State.Quoted) this.problem ??= 'a quoted field that never ends';
    if (this.length > 0 || this.ends.length > 0 || this.state !== State.FieldStart || this.problem) this.endRecord(out);
    return out;
  }

  private append(chunk: Uint8Array, from: number, to: number) {
    const room = this.maxRecordBytes - this.length;
    if (to - from > room) this.problem ??= `a record longer than ${this.maxRecordBytes} bytes`;
    const end = Math.min(to, from + room);
    if (end > from) {
      this.bytes.set(chunk.subarray(from, end), this.length);
      this.length += end - from;
    }
  }

  private endField() {
    this.ends.push(this.length);
    this.state = State.FieldStart;
  }

  private endRecord(out: FileRecord[]) {
    this.line += 1;
    this.ends.push(this.length);
    const line = this.recordLine;
    const blank = this.ends.length === 1 && this.length === 0 && this.state === State.FieldStart;
    if (this.problem) out.push({ line, error: this.problem });
    else if (!blank) {
      // Checked whole, then cut at the delimiters (ASCII, so never inside a character).
      if (!isUtf8(this.bytes.subarray(0, this.length))) out.push({ line, error: 'not valid UTF-8' });
      else {
        let start = 0;
        out.push({ line, fields: this.ends.map((end) => this.bytes.toString('utf8', start, (start = end))) });
      }
    }
    this.length = 0;
    this.ends = [];
    this.problem = undefined;
    this.state = State.FieldStart;
    this.recordLine = this.line;
  }
}

function countLineFeeds(chunk: Uint8Array, from: number, to: number): number {
  let count = 0;
  for (let k = chunk.indexOf(LF, from); k !== -1 && k < to; k = chunk.indexOf(LF, k + 1)) count += 1;
  return count;
}

/** Splits lines (LF or CRLF) holding at most `maxLineBytes` of one; longer lines and lines not UTF-8 are reported. */
export class LineSplitter {
  private readonly bytes: Buffer;
  private length = 0;
  private tooLong = false;
  private line = 1;

  constructor(private readonly maxLineBytes: number) {
    this.bytes = Buffer.alloc(maxLineBytes);
  }

  feed(chunk: Uint8Array): FileRecord[] {
    const out: FileRecord[] = [];
    let from = 0;
    for (let lf = chunk.indexOf(LF); lf !== -1; lf = chunk.indexOf(LF, from)) {
      this.take(chunk.subarray(from, lf));
      this.emit(out);
      from = lf + 1;
    }
    this.take(chunk.subarray(from));
    return out;
  }

  end(): FileRecord[] {
    const out: FileRecord[] = [];
    if (this.length > 0 || this.tooLong) this.emit(out);
    return out;
  }

  private take(part: Uint8Array) {
    if (this.tooLong) return;
    if (this.length + part.length > this.maxLineBytes) this.tooLong = true;
    else {
      this.bytes.set(part, this.length);
      this.length += part.length;
    }
  }

  private emit(out: FileRecord[]) {
    const line = this.line++;
    let end = this.length;
    if (end > 0 && this.bytes[end - 1] === CR) end -= 1;
    if (this.tooLong) out.push({ line, error: `a line longer than ${this.maxLineBytes} bytes` });
    else if (this.bytes.subarray(0, end).some((b) => b !== 0x20 && b !== 0x09)) {
      if (isUtf8(this.bytes.subarray(0, end))) out.push({ line, fields: [this.bytes.toString('utf8', 0, end)] });
      else out.push({ line, error: 'not valid UTF-8' });
    }
    this.length = 0;
    this.tooLong = false;
  }
}
