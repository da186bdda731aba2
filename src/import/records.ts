/** A record of a file: its fields as text, or why it cannot be read; `line` is where it starts (from 1). */
export type FileRecord = { line: number; fields: string[] } | { line: number; error: string };

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

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
  private started = false;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(private readonly maxRecordBytes: number) {
    this.bytes = Buffer.alloc(maxRecordBytes);
  }

  feed(chunk: Uint8Array): FileRecord[] {
    const out: FileRecord[] = [];
    let i = 0;
    if (!this.started) {
      this.started = true;
      // A byte-order mark, as spreadsheets write it.
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = 3;
    }
    for (; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (c === LF) this.line += 1;
      switch (this.state) {
        case State.FieldStart:
        case State.Unquoted:
          if (c === COMMA) this.endField();
          else if (c === LF) this.endRecord(out);
          else if (c === QUOTE && this.state === State.FieldStart) this.state = State.Quoted;
          else if (c !== CR) {
            this.append(c);
            this.state = State.Unquoted;
          }
          break;
        case State.Quoted:
          if (c === QUOTE) this.state = State.QuoteInQuoted;
          else this.append(c);
          break;
        case State.QuoteInQuoted:
          if (c === QUOTE) {
            this.append(c);
            this.state = State.Quoted;
          } else if (c === COMMA) this.endField();
          else if (c === LF) this.endRecord(out);
          else if (c !== CR) {
            this.problem ??= 'a character after the closing quote of a field';
            this.append(c);
            this.state = State.Unquoted;
          }
          break;
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

  private append(c: number) {
    if (this.length < this.maxRecordBytes) this.bytes[this.length++] = c;
    else this.problem ??= `a record longer than ${this.maxRecordBytes} bytes`;
  }

  private endField() {
    this.ends.push(this.length);
    this.state = State.FieldStart;
  }

  private endRecord(out: FileRecord[]) {
    this.ends.push(this.length);
    const line = this.recordLine;
    const blank = this.ends.length === 1 && this.length === 0 && this.state === State.FieldStart;
    if (this.problem) out.push({ line, error: this.problem });
    else if (!blank) {
      try {
        let start = 0;
        const fields = this.ends.map((end) => this.decoder.decode(this.bytes.subarray(start, (start = end))));
        out.push({ line, fields });
      } catch {
        out.push({ line, error: 'not valid UTF-8' });
      }
    }
    this.length = 0;
    this.ends = [];
    this.problem = undefined;
    this.state = State.FieldStart;
    this.recordLine = this.line;
  }
}

/** Splits lines (LF or CRLF) holding at most `maxLineBytes` of one; longer lines and lines not UTF-8 are reported. */
export class LineSplitter {
  private readonly bytes: Buffer;
  private length = 0;
  private tooLong = false;
  private line = 1;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

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
      try {
        out.push({ line, fields: [this.decoder.decode(this.bytes.subarray(0, end))] });
      } catch {
        out.push({ line, error: 'not valid UTF-8' });
      }
    }
    this.length = 0;
    this.tooLong = false;
  }
}
