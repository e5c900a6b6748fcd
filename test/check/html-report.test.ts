import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { escapeHtml, renderHtmlReport, writeHtmlReport } from '../../src/check/html-report.js';
import { checkKv, ev, on } from './build.js';

const violating = [
  ev(1, 0, 'invoke', 'put', '<b>1</b>'),
  ev(2, 0, 'ok', 'put', '<b>1</b>'),
  ev(3, 1, 'invoke', 'get'),
  ev(4, 1, 'ok', 'get', null),
  ev(5, 2, 'invoke', 'put', 2),
  on('fine', ev(6, 3, 'invoke', 'put', 1)),
  on('fine', ev(7, 3, 'ok', 'put', 1)),
];

describe('renderHtmlReport', () => {
  const html = renderHtmlReport(checkKv(violating));

  test('is one self-contained page: inline style and SVG, no scripts and no external assets', () => {
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<style>');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|<link|<img|\bsrc=|\bhref=|url\(|@import|https?:/i);
  });

  test('draws the key that is not linearizable, with one lane per process', () => {
    expect(html).toContain('key &#34;k&#34;: NOT linearizable');
    expect(html).toContain('process 0</text>');
    expect(html).toContain('process 1</text>');
    expect(html).toContain('process 2</text>');
    expect(html).not.toContain('process 3</text>');
  });

  test('marks the prefix, the operation that cannot be ordered, and unknown outcomes', () => {
    expect(html).toMatch(/<g class="op placed">.*?#1<\/text>/);
    expect(html).toMatch(/<g class="op unordered blocking"><title>get k → null/);
    expect(html).toMatch(/<g class="op (unordered )?unknown"><title>put k = 2 \(unknown outcome\)/);
  });

  test('escapes values taken from the history', () => {
    expect(html).not.toContain('<b>1</b>');
    expect(html).toContain('&#60;b&#62;1&#60;/b&#62;');
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;');
  });

  test('says there is nothing to draw when every key is linearizable', () => {
    const ok = renderHtmlReport(checkKv(violating.slice(0, 2)));
    expect(ok).toContain('Every key is linearizable');
    expect(ok).not.toContain('<svg');
  });

  test('draws a window around the problem when a key has more operations than opsDrawnMax', () => {
    const many = Array.from({ length: 50 }, (_, i) => [
      ev(10 * i, 0, 'invoke', 'put', i),
      ev(10 * i + 1, 0, 'ok', 'put', i),
    ]).flat();
    const page = renderHtmlReport(
      checkKv([...many, ev(600, 1, 'invoke', 'get'), ev(601, 1, 'ok', 'get', 3)]),
      {
        opsDrawnMax: 10,
      },
    );
    expect(page).toContain('Showing 10 of 51 operations');
    expect(page.match(/<g class="op/g)).toHaveLength(10);
    expect(page).toContain('op unordered blocking');
  });
});

test('writeHtmlReport writes the page to a file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-check-'));
  try {
    const file = join(dir, 'report.html');
    await writeHtmlReport(file, checkKv(violating));
    expect(await readFile(file, 'utf8')).toContain('NOT linearizable');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
