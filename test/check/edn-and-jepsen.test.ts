import { describe, expect, test } from 'vitest';
import { appendModel } from '../../src/check/append-model.js';
import { checkHistory } from '../../src/check/check-history.js';
import { parseEdnHistory } from '../../src/check/edn-history.js';
import { EdnKeyword, EdnSymbol, EdnSyntaxError, readEdn } from '../../src/check/edn-reader.js';
import { HistoryParseError } from '../../src/check/errors.js';
import { parseJepsenLog } from '../../src/check/jepsen-log.js';
import { registerModel } from '../../src/check/register-model.js';

describe('readEdn', () => {
  test('reads maps, vectors, sets, keywords, strings, numbers and nil', () => {
    const value = readEdn(
      '{:a [1 -2.5 "x\\"y\\n"], :b #{nil true}, "k" :kw, :c (sym), :d #inst "2020"} ; note',
    );
    expect(value).toBeInstanceOf(Map);
    const map = value as ReadonlyMap<string, unknown>;
    expect(map.get('a')).toEqual([1, -2.5, 'x"y\n']);
    expect(map.get('b')).toEqual([null, true]);
    expect(map.get('"k"')).toEqual(new EdnKeyword('kw'));
    expect(map.get('c')).toEqual([new EdnSymbol('sym')]);
    expect(map.get('d')).toBe('2020');
  });

  test('#_ discards the next form', () => {
    expect(readEdn('[1 #_ 2 3]')).toEqual([1, 3]);
  });

  test.each([
    ['[1 2', /column 5: missing "\]"/],
    ['{:a}', /a map needs an even number of forms/],
    ['"abc', /unterminated string/],
    ['1 2', /column 3: unexpected text after the value/],
    [']', /column 1: unexpected "\]"/],
    ['"\\q"', /unknown escape/],
    [`${'['.repeat(40)}${']'.repeat(40)}`, /nested deeper than 32/],
  ])('refuses %s', (text, message) => {
    expect(() => readEdn(text)).toThrow(EdnSyntaxError);
    expect(() => readEdn(text)).toThrow(message);
  });
});

describe('parseEdnHistory', () => {
  const lines = [
    '{:process 0, :type :invoke, :f :append, :key "a", :value "x"}',
    '{:process :nemesis, :type :info, :f :start, :value nil}',
    '; a comment',
    '{:process 0, :type :ok, :f :append, :key "a", :value "x"}',
    '{:process 1, :type :invoke, :f :get, :key "a", :value nil}',
    '{:process 1, :type :ok, :f :get, :key "a", :value "x"}',
  ];

  test('reads operations in line order and skips the nemesis and comments', () => {
    const history = parseEdnHistory(lines.join('\n'), { source: 'h.edn' });
    expect(history.operations.map((op) => [op.f, op.key, op.value, op.call, op.ret])).toEqual([
      ['append', 'a', 'x', 1, 4],
      ['get', 'a', 'x', 5, 6],
    ]);
    expect(checkHistory(history, appendModel).verdict).toBe('ok');
  });

  test('a cas value is [expected new]; events without :key take the default key', () => {
    const history = parseEdnHistory(
      [
        '{:process 0, :type :invoke, :f :cas, :value [1 2]}',
        '{:process 0, :type :fail, :f :cas, :value [1 2]}',
      ].join('\n'),
      { defaultKey: 'r' },
    );
    expect(history.operations.map((op) => [op.key, op.expected, op.value, op.outcome])).toEqual([
      ['r', 1, 2, 'fail'],
    ]);
  });

  test.each([
    ['{:process 0, :type :invoke', /h\.edn:2: not EDN: column \d+: missing "}"/],
    ['[1 2]', /h\.edn:2: expected an EDN map/],
    [
      '{:process 0, :type :begin, :f :get, :key "a"}',
      /h\.edn:2: :type must be one of :invoke :ok :fail :info, got :begin/,
    ],
    ['{:process 0.5, :type :invoke, :f :get, :key "a"}', /h\.edn:2: :process must be an integer, got 0.5/],
    ['{:process 0, :type :invoke, :f :put, :key "a", :value {:x 1}}', /h\.edn:2: :value must be nil/],
  ])('refuses %s naming the line', (bad, message) => {
    const text = [lines[0], bad].join('\n');
    expect(() => parseEdnHistory(text, { source: 'h.edn' })).toThrow(HistoryParseError);
    expect(() => parseEdnHistory(text, { source: 'h.edn' })).toThrow(message);
  });
});

describe('parseJepsenLog', () => {
  const log = [
    'INFO  jepsen.util - 0\t:invoke\t:write\t3',
    'INFO  jepsen.util - 1\t:invoke\t:read\tnil',
    'INFO  jepsen.core - something else entirely',
    'INFO  jepsen.util - 0\t:ok\t:write\t3',
    'INFO  jepsen.util - 1\t:fail\t:read\t:timed-out',
    'INFO  jepsen.util - 2   :invoke :cas    [3 4]',
    'INFO  jepsen.util - 2   :info   :cas    :timed-out',
    'INFO  jepsen.util - 3\t:invoke\t:read\tnil',
    'INFO  jepsen.util - 3\t:ok\t:read\tnil',
  ].join('\n');

  test('reads writes, reads and cas separated by tabs or spaces; timed-out reads are dropped', () => {
    const history = parseJepsenLog(log, { source: 'etcd.log', key: 'r' });
    expect(history.droppedCount).toBe(1);
    expect(
      history.operations.map((op) => [op.f, op.key, op.expected, op.value, op.outcome, op.line]),
    ).toEqual([
      ['write', 'r', null, 3, 'ok', 1],
      ['cas', 'r', 3, 4, 'unknown', 6],
      ['read', 'r', null, null, 'ok', 8],
    ]);
  });

  test('a read of nil after a completed write is not linearizable', () => {
    expect(checkHistory(parseJepsenLog(log), registerModel).verdict).toBe('violation');
  });

  test('an operation line with a malformed value names the line', () => {
    const bad = `${log}\nINFO  jepsen.util - 4\t:invoke\t:cas\t[1 2`;
    expect(() => parseJepsenLog(bad, { source: 'etcd.log' })).toThrow(
      /etcd\.log:10: the value "\[1 2" is not EDN/,
    );
  });

  test('a cas value must be a pair', () => {
    const bad = 'INFO  jepsen.util - 4\t:invoke\t:cas\t[1 2 3]';
    expect(() => parseJepsenLog(bad)).toThrow(/history:1: a cas value is \[expected new\], got 3 items/);
  });
});
