import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';

const RAFT = new URL('../../src/raft/', import.meta.url).pathname;

// STYLE.md §1: the core has no clock, no timers, no randomness of its own, no I/O, no process.
const FORBIDDEN: readonly [RegExp, string][] = [
  [/from\s+['"]node:/, 'a node:* import'],
  [/\brequire\s*\(/, 'require()'],
  [/import\s*\(/, 'a dynamic import'],
  [/from\s+['"](?!\.{1,2}\/)[^'"]+['"]/, 'an import from outside src/raft'],
  [/\bDate\b/, 'Date'],
  [/\bperformance\b/, 'performance'],
  [/\bMath\.random\b/, 'Math.random'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\b/, 'a timer'],
  [/\bprocess\b/, 'process'],
  [/\basync\b|\bawait\b/, 'async code'],
  [/\bPromise\b/, 'a Promise'],
];

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

test('src/raft stays pure: no node:* imports, clock, timers, randomness, process or async', () => {
  const files = readdirSync(RAFT).filter((f) => f.endsWith('.ts'));
  expect(files.length).toBeGreaterThan(5);
  const found: string[] = [];
  for (const f of files) {
    const lines = stripComments(readFileSync(join(RAFT, f), 'utf8')).split('\n');
    lines.forEach((line, k) => {
      for (const [pattern, what] of FORBIDDEN) {
        if (pattern.test(line)) found.push(`src/raft/${f}:${k + 1}: ${what}: ${line.trim()}`);
      }
    });
  }
  expect(found).toEqual([]);
});

test('the purity check notices a forbidden line', () => {
  const bad = stripComments("import { readFileSync } from 'node:fs';\nconst t = Date.now();");
  expect(FORBIDDEN.filter(([p]) => p.test(bad)).map(([, what]) => what)).toEqual(
    expect.arrayContaining(['a node:* import', 'Date']),
  );
});
