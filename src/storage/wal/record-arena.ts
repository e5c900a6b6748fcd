import { crc32cTable } from './crc32c.js';

/**
 * Where the WAL encodes a save, and what checksums it: a block of WebAssembly memory with a
 * CRC32C routine compiled next to it.
 *
 * Why WebAssembly. A 256-entry save is 39 KB, and table-driven CRC32C in JavaScript (crc32c.ts)
 * runs at about 1 GB/s here — 39 µs per save, a tenth of a durable write on this disk. The same
 * slicing-by-16 loop as WebAssembly runs 2.5× faster (15 µs): its 32-bit little-endian loads and
 * table lookups go straight to machine instructions, with no typed-array bounds checks. Node 20
 * has no native CRC32C (zlib's crc32 is another polynomial), and a native addon would pay a call
 * per record. The module is assembled below from opcodes (about 400 bytes), so there is no build
 * step and no binary in the repository; test/storage/record-arena.test.ts checks it against the
 * byte-at-a-time CRC.
 *
 * The memory never grows: growing detaches the ArrayBuffer, and a write still in flight would
 * then read freed memory. It is sized once: the tables, then `bytesMax` bytes for one save. A
 * save larger than that is encoded in an ordinary buffer with the JavaScript CRC.
 *
 * Contract: `buffer()` returns the same memory every time. The caller must not ask for it again
 * until the write of the previous buffer has completed — the WAL runs one save at a time.
 */
export class RecordArena {
  private readonly memory: WasmMemory;
  private readonly sealRecords: (from: number, to: number) => void;

  constructor(readonly bytesMax: number) {
    const pages = Math.ceil((DATA_OFFSET + bytesMax) / WASM_PAGE_BYTES);
    const instance = new (wasmApi()!.Instance)(crcModule(), {});
    this.memory = instance.exports.memory as WasmMemory;
    this.memory.grow(pages - 1); // once, before any view of it is handed out
    new Int32Array(this.memory.buffer, 0, SLICES * 256).set(crc32cTable());
    this.sealRecords = instance.exports.seal as (from: number, to: number) => void;
  }

  /** `size` (≤ bytesMax) bytes of arena memory to encode records into; their contents are stale. */
  buffer(size: number): Uint8Array {
    if (size > this.bytesMax) throw new RangeError(`record-arena: ${size} bytes exceed ${this.bytesMax}`);
    return new Uint8Array(this.memory.buffer, DATA_OFFSET, size);
  }

  /**
   * Fills in the CRC32C of every record in `records` (a prefix of `buffer()`): each is a u32
   * length, a u32 CRC slot and `length` bytes, back to back, exactly filling it.
   */
  seal(records: Uint8Array): void {
    if (records.buffer !== this.memory.buffer || records.byteOffset !== DATA_OFFSET) {
      throw new RangeError('record-arena: seal() takes a view returned by buffer()');
    }
    this.sealRecords(DATA_OFFSET, DATA_OFFSET + records.length);
  }
}

// The WebAssembly API as this file uses it (the project's TypeScript libs do not declare it).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
type WasmModule = { readonly __wasmModule: unique symbol };
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: Record<string, unknown> };
}

/** The WebAssembly API, or undefined where there is none (`node --jitless`). Read when used. */
function wasmApi(): WasmApi | undefined {
  return (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
}

/**
 * A RecordArena of `bytesMax` bytes, or undefined where WebAssembly is unavailable: the WAL then
 * encodes each save in a buffer of its own and checksums it in JavaScript.
 */
export function recordArena(bytesMax: number): RecordArena | undefined {
  return wasmApi() === undefined ? undefined : new RecordArena(bytesMax);
}

const SLICES = 16;
/** The tables: 16 × 256 u32 at the start of memory. */
const DATA_OFFSET = SLICES * 256 * 4;
const WASM_PAGE_BYTES = 64 * 1024;

// ---- the module, assembled ----------------------------------------------------------------

const I32 = 0x7f;
const OP = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  call: 0x10,
  localGet: 0x20,
  localSet: 0x21,
  i32Load: 0x28,
  i32Load8U: 0x2d,
  i32Store: 0x36,
  i32Const: 0x41,
  i32GtU: 0x4b,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32And: 0x71,
  i32Xor: 0x73,
  i32Shl: 0x74,
  i32ShrU: 0x76,
} as const;
const VOID_BLOCK = 0x40;
const ALIGN_4 = 2;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const get = (local: number) => [OP.localGet, ...uleb(local)];
const set = (local: number) => [OP.localSet, ...uleb(local)];
const konst = (n: number) => [OP.i32Const, ...sleb(n)];
const load = (offset: number) => [OP.i32Load, ALIGN_4, ...uleb(offset)];
const vec = (items: readonly (readonly number[])[]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: readonly number[]) => [id, ...uleb(body.length), ...body];
const name = (text: string) => [...uleb(text.length), ...[...text].map((ch) => ch.charCodeAt(0))];
/** `while (!(cond)) { body }` with `cond` leaving an i32 on the stack. */
const until = (cond: readonly number[], body: readonly number[]) => [
  OP.block,
  VOID_BLOCK,
  OP.loop,
  VOID_BLOCK,
  ...cond,
  OP.brIf,
  1,
  ...body,
  OP.br,
  0,
  OP.end,
  OP.end,
];

/** table[t][(word >>> shift) & 0xff], with table t at byte t·1024. */
const lookup = (word: number, shift: number, table: number) => [
  ...get(word),
  ...(shift === 0 ? [] : [...konst(shift), OP.i32ShrU]),
  ...(shift === 24 ? [] : [...konst(0xff), OP.i32And]),
  ...konst(2),
  OP.i32Shl,
  ...load(table * 1024),
];

/**
 * crc(c, p, end) → the CRC32C of memory[p, end) continued from c; the JavaScript loop of
 * crc32c.ts, sixteen bytes a step, then byte by byte. Locals: 0 c, 1 p, 2 end, 3–6 the words.
 */
function crcBody(): number[] {
  const step: number[] = [...get(0), ...get(1), ...load(0), OP.i32Xor, ...set(3)];
  for (let w = 1; w < 4; w++) step.push(...get(1), ...load(w * 4), ...set(3 + w));
  for (let w = 0; w < 4; w++) {
    for (let b = 0; b < 4; b++) {
      step.push(...lookup(3 + w, b * 8, 15 - (w * 4 + b)));
      if (w + b > 0) step.push(OP.i32Xor);
    }
  }
  step.push(...set(0), ...get(1), ...konst(16), OP.i32Add, ...set(1));
  const tail = [
    ...get(0),
    ...get(1),
    OP.i32Load8U,
    0,
    0,
    OP.i32Xor,
    ...konst(0xff),
    OP.i32And,
    ...konst(2),
    OP.i32Shl,
    ...load(0),
    ...get(0),
    ...konst(8),
    OP.i32ShrU,
    OP.i32Xor,
    ...set(0),
    ...get(1),
    ...konst(1),
    OP.i32Add,
    ...set(1),
  ];
  return [
    ...vec([[4, I32]]),
    ...get(0),
    ...konst(-1),
    OP.i32Xor,
    ...set(0),
    ...until([...get(1), ...konst(16), OP.i32Add, ...get(2), OP.i32GtU], step),
    ...until([...get(1), ...get(2), OP.i32GeU], tail),
    ...get(0),
    ...konst(-1),
    OP.i32Xor,
    OP.end,
  ];
}

/** seal(p, end): for each record [length u32][crc u32][length bytes] from p to end, store its CRC. */
function sealBody(): number[] {
  const record = [
    ...get(0),
    ...load(0),
    ...set(2),
    ...get(0),
    ...konst(0),
    ...get(0),
    ...konst(8),
    OP.i32Add,
    ...get(0),
    ...konst(8),
    OP.i32Add,
    ...get(2),
    OP.i32Add,
    OP.call,
    0,
    OP.i32Store,
    ALIGN_4,
    4,
    ...get(0),
    ...konst(8),
    OP.i32Add,
    ...get(2),
    OP.i32Add,
    ...set(0),
  ];
  return [...vec([[1, I32]]), ...until([...get(0), ...get(1), OP.i32GeU], record), OP.end];
}

let compiled: WasmModule | undefined;

function crcModule(): WasmModule {
  if (compiled !== undefined) return compiled;
  const crc = crcBody();
  const seal = sealBody();
  const bytes = new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(
      1, // types: (i32, i32, i32) → i32 and (i32, i32) → ()
      vec([
        [0x60, ...vec([[I32], [I32], [I32]]), ...vec([[I32]])],
        [0x60, ...vec([[I32], [I32]]), 0],
      ]),
    ),
    ...section(3, vec([[0], [1]])), // functions: crc, seal
    ...section(5, vec([[0x00, 1]])), // one memory, one page to start
    ...section(
      7,
      vec([
        [...name('memory'), 0x02, 0],
        [...name('crc'), 0x00, 0],
        [...name('seal'), 0x00, 1],
      ]),
    ),
    ...section(
      10,
      vec([
        [...uleb(crc.length), ...crc],
        [...uleb(seal.length), ...seal],
      ]),
    ),
  ]);
  const module = new (wasmApi()!.Module)(bytes);
  compiled = module;
  return module;
}
