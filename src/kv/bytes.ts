import { Buffer } from 'node:buffer';

/**
 * Byte helpers shared by the KV codecs: unsigned LEB128 varints up to 2^53 − 1 in their shortest
 * form (an overlong varint is malformed, so decoded bytes re-encode to the same bytes), a reader
 * that names what it failed to read, and the latin1 key form the sorted index compares.
 */

/** The most bytes a varint of a safe integer takes (7 bits per byte, 53 bits). */
export const VARINT_BYTES_MAX = 8;

const utf8Encoder = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const EMPTY = new Uint8Array(0);
const LATIN1_APPLY_MAX = 4096;

/** Bytes taken by the varint of `value` (a non-negative safe integer). */
export function varintBytes(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

/** Writes the varint of `value` at `pos`; returns the position after it. */
export function writeVarint(bytes: Uint8Array, pos: number, value: number): number {
  while (value >= 0x80) {
    bytes[pos++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  bytes[pos++] = value;
  return pos;
}

/** True for an integer in [0, 2^53 − 1], the range a varint carries. */
export function isU53(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** The UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/**
 * The key form the sorted index keeps: one char per byte (code points 0–255), so that string
 * order is byte order and `startsWith` is a byte-prefix test.
 */
export function latin1(bytes: Uint8Array): string {
  // fromCharCode builds a flat string with no Buffer in between (measured ~2x faster for short
  // keys); its argument count is bounded, so long inputs go through Buffer.
  if (bytes.length <= LATIN1_APPLY_MAX) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** A copy of `bytes` that owns its own buffer (a plain Uint8Array even when given a Buffer). */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy;
}

/** An error class a reader throws; its constructor takes the message. */
export type DecodeErrorClass = new (message: string) => Error;

/**
 * Reads fields from `buf` at `pos`. Every read names the field (`what`) so that a malformed
 * input is reported as "<what>: <problem> at byte <pos>", thrown as `errorClass`.
 */
export class ByteReader {
  constructor(
    protected buf: Uint8Array,
    private readonly errorClass: DecodeErrorClass,
    public pos = 0,
  ) {}

  /** Bytes left after `pos`. */
  get available(): number {
    return this.buf.length - this.pos;
  }

  /** Throws the reader's error for a problem at the current position. */
  fail(what: string, problem: string): never {
    throw new this.errorClass(`${what}: ${problem} at byte ${this.pos}`);
  }

  u8(what: string): number {
    const b = this.buf[this.pos];
    if (b === undefined) this.fail(what, 'truncated');
    this.pos++;
    return b;
  }

  /** A little-endian u32. */
  u32(what: string): number {
    if (this.available < 4) this.fail(what, 'truncated');
    const p = this.pos;
    this.pos = p + 4;
    return (
      (this.buf[p]! | (this.buf[p + 1]! << 8) | (this.buf[p + 2]! << 16) | (this.buf[p + 3]! << 24)) >>> 0
    );
  }

  varint(what: string): number {
    const buf = this.buf;
    const start = this.pos;
    let byte = buf[start];
    if (byte === undefined) this.fail(what, 'truncated');
    if (byte < 0x80) {
      this.pos = start + 1;
      return byte;
    }
    let value = byte & 0x7f;
    let scale = 0x80;
    for (let n = 1; n < VARINT_BYTES_MAX; n++) {
      byte = buf[start + n];
      if (byte === undefined) this.fail(what, 'truncated varint');
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (byte === 0) this.fail(what, 'overlong varint');
        if (value > Number.MAX_SAFE_INTEGER) this.fail(what, 'varint above 2^53 - 1');
        this.pos = start + n + 1;
        return value;
      }
      scale *= 0x80;
    }
    return this.fail(what, `varint longer than ${VARINT_BYTES_MAX} bytes`);
  }

  /** The next `n` bytes as a view of the input (not a copy). */
  bytes(n: number, what: string): Uint8Array {
    if (n > this.available) this.fail(what, `truncated (needs ${n} bytes, ${this.available} left)`);
    if (n === 0) return EMPTY;
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A varint length followed by that many bytes, the length at most `max`. */
  lengthPrefixed(max: number, what: string): Uint8Array {
    const n = this.varint(what);
    if (n > max) this.fail(what, `length ${n} above the limit ${max}`);
    return this.bytes(n, what);
  }

  /** The next `n` bytes as strict UTF-8. */
  text(n: number, what: string): string {
    const start = this.pos;
    const bytes = this.bytes(n, what);
    try {
      return utf8Strict.decode(bytes);
    } catch {
      this.pos = start;
      return this.fail(what, 'invalid UTF-8');
    }
  }

  /** A varint length (at most `max`) followed by that many bytes of strict UTF-8. */
  utf8(max: number, what: string): string {
    const n = this.varint(what);
    if (n > max) this.fail(what, `length ${n} above the limit ${max}`);
    return this.text(n, what);
  }

  /** Throws unless every byte was read. */
  end(what: string): void {
    if (this.pos !== this.buf.length) this.fail(what, `${this.available} unexpected trailing bytes`);
  }
}
