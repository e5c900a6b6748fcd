import { FlotillaError } from '../raft/errors.js';

/** An EDN keyword such as `:invoke`, kept apart from the string `"invoke"`. */
export class EdnKeyword {
  constructor(readonly name: string) {}
}

/** An EDN symbol other than `nil`, `true` and `false`. */
export class EdnSymbol {
  constructor(readonly name: string) {}
}

/**
 * A value read from EDN. Vectors, lists and sets become arrays; maps become a `Map` whose keys are
 * a keyword's name, a string's JSON form, or any other key's text.
 */
export type EdnValue =
  | null
  | boolean
  | number
  | string
  | EdnKeyword
  | EdnSymbol
  | readonly EdnValue[]
  | ReadonlyMap<string, EdnValue>;

/** Text that is not the EDN subset this reader knows; `column` is 1-based. */
export class EdnSyntaxError extends FlotillaError {
  override readonly code = 'ERR_EDN_SYNTAX';
  constructor(
    readonly column: number,
    detail: string,
  ) {
    super(`column ${column}: ${detail}`);
    this.name = 'EdnSyntaxError';
  }
}

/** Nesting deeper than this is refused rather than risking the stack. */
export const EDN_DEPTH_MAX = 32;

const DELIMITERS = new Set([' ', '\t', '\r', '\n', ',', '{', '}', '[', ']', '(', ')', '"', ';']);
const NUMBER = /^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?[MN]?$/;
const CLOSERS: Record<string, string> = { '[': ']', '(': ')', '{': '}' };
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', b: '\b', f: '\f' };

/**
 * Reads one EDN value, enough of EDN for Jepsen-style histories: maps, vectors, lists, sets,
 * strings, keywords, symbols, numbers, `nil`, booleans, comments, `#_` discards and tagged values
 * (the tag is dropped). Throws {@link EdnSyntaxError}.
 */
export function readEdn(text: string): EdnValue {
  const reader = new EdnReader(text);
  const value = reader.value(0);
  reader.skipSpace();
  if (reader.pos < text.length) reader.fail('unexpected text after the value');
  return value;
}

class EdnReader {
  pos = 0;

  constructor(private readonly text: string) {}

  fail(detail: string): never {
    throw new EdnSyntaxError(this.pos + 1, detail);
  }

  skipSpace(): void {
    const { text } = this;
    while (this.pos < text.length) {
      const c = text[this.pos];
      if (c === ';') {
        while (this.pos < text.length && text[this.pos] !== '\n') this.pos++;
      } else if (c === ' ' || c === ',' || c === '\t' || c === '\r' || c === '\n') {
        this.pos++;
      } else {
        return;
      }
    }
  }

  value(depth: number): EdnValue {
    if (depth > EDN_DEPTH_MAX) this.fail(`nested deeper than ${EDN_DEPTH_MAX}`);
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === undefined) return this.fail('unexpected end of text');
    if (c === '[' || c === '(') return this.sequence(depth);
    if (c === '{') return this.map(depth);
    if (c === '"') return this.string();
    if (c === '#') return this.dispatch(depth);
    if (c === ']' || c === ')' || c === '}') return this.fail(`unexpected "${c}"`);
    const token = this.token();
    if (c === ':') {
      if (token.length === 1) this.fail('empty keyword');
      return new EdnKeyword(token.slice(1));
    }
    if (token === 'nil') return null;
    if (token === 'true') return true;
    if (token === 'false') return false;
    if (NUMBER.test(token)) return Number(token.replace(/[MN]$/, ''));
    return new EdnSymbol(token);
  }

  private token(): string {
    const start = this.pos;
    while (this.pos < this.text.length && !DELIMITERS.has(this.text[this.pos] ?? ' ')) this.pos++;
    return this.text.slice(start, this.pos);
  }

  private items(close: string, depth: number): EdnValue[] {
    const items: EdnValue[] = [];
    for (;;) {
      this.skipSpace();
      const c = this.text[this.pos];
      if (c === undefined) this.fail(`missing "${close}"`);
      if (c === close) {
        this.pos++;
        return items;
      }
      items.push(this.value(depth + 1));
    }
  }

  private sequence(depth: number): EdnValue[] {
    const open = this.text[this.pos++] ?? '[';
    return this.items(CLOSERS[open] ?? ']', depth);
  }

  private map(depth: number): ReadonlyMap<string, EdnValue> {
    this.pos++;
    const items = this.items('}', depth);
    if (items.length % 2 !== 0) this.fail('a map needs an even number of forms');
    const map = new Map<string, EdnValue>();
    for (let i = 0; i < items.length; i += 2) map.set(mapKey(items[i] ?? null), items[i + 1] ?? null);
    return map;
  }

  private dispatch(depth: number): EdnValue {
    const next = this.text[this.pos + 1];
    if (next === '{') {
      this.pos += 2;
      return this.items('}', depth);
    }
    if (next === '_') {
      this.pos += 2;
      this.value(depth + 1);
      return this.value(depth);
    }
    this.pos++;
    if (this.token() === '') this.fail('"#" must start a set, a discard or a tag');
    return this.value(depth + 1);
  }

  private string(): string {
    const { text } = this;
    let out = '';
    for (let at = this.pos + 1; at < text.length; at++) {
      const c = text[at];
      if (c === '"') {
        this.pos = at + 1;
        return out;
      }
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = text[++at] ?? '';
      if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(at + 1, at + 5))) {
        out += String.fromCharCode(Number.parseInt(text.slice(at + 1, at + 5), 16));
        at += 4;
      } else if (ESCAPES[e] !== undefined) {
        out += ESCAPES[e];
      } else {
        this.pos = at;
        this.fail(`unknown escape "\\${e}"`);
      }
    }
    return this.fail('unterminated string');
  }
}

function mapKey(key: EdnValue): string {
  if (key instanceof EdnKeyword || key instanceof EdnSymbol) return key.name;
  if (typeof key === 'string') return JSON.stringify(key);
  return String(key);
}
