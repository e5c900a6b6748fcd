import { describe, expect, test } from 'vitest';
import { HistoryParseError } from '../../src/check/errors.js';
import { parseJsonlHistory } from '../../src/check/jsonl-history.js';

const invokePut = '{"process":0,"type":"invoke","f":"put","key":"k","value":1,"time":1}';
const okPut = '{"process":0,"type":"ok","f":"put","key":"k","value":1,"time":2}';

/** The error `parseJsonlHistory` throws for `lines`. */
function parseError(lines: readonly string[]): HistoryParseError {
  try {
    parseJsonlHistory(lines.join('\n'), { source: 'h.jsonl' });
  } catch (err) {
    expect(err).toBeInstanceOf(HistoryParseError);
    return err as HistoryParseError;
  }
  return expect.unreachable('the history should have been refused');
}

describe('malformed JSON Lines are refused with the line number', () => {
  test.each([
    ['not JSON', '{"process":1,', /h\.jsonl:3: not valid JSON/],
    ['not an object', '[1,2]', /h\.jsonl:3: expected a JSON object/],
    [
      'no process',
      '{"type":"invoke","f":"get","key":"k","time":3}',
      /h\.jsonl:3: "process" must be an integer/,
    ],
    ['a bad type', '{"process":1,"type":"done","f":"get","key":"k","time":3}', /:3: "type" must be one of/],
    ['a bad f', '{"process":1,"type":"invoke","f":"incr","key":"k","time":3}', /:3: "f" must be one of/],
    [
      'a numeric key',
      '{"process":1,"type":"invoke","f":"get","key":7,"time":3}',
      /:3: "key" must be a string/,
    ],
    ['no time', '{"process":1,"type":"invoke","f":"get","key":"k"}', /:3: "time" must be a number/],
    [
      'a non-scalar value',
      '{"process":1,"type":"invoke","f":"put","key":"k","value":[1],"time":3}',
      /:3: "value" must be a JSON scalar/,
    ],
  ])('%s', (_, bad, message) => {
    const err = parseError([invokePut, okPut, bad]);
    expect(err.code).toBe('ERR_HISTORY_PARSE');
    expect(err.line).toBe(3);
    expect(err.message).toMatch(message);
  });

  test('blank lines count toward line numbers but are skipped', () => {
    expect(parseError([invokePut, '', '   ', 'oops']).line).toBe(4);
  });
});

describe('pairing invocations with completions', () => {
  test('a process with two operations open at once is an error naming both lines', () => {
    const err = parseError([invokePut, '{"process":0,"type":"invoke","f":"get","key":"k","time":2}']);
    expect(err.line).toBe(2);
    expect(err.message).toMatch(/process 0 invokes get while its put from line 1 is still open/);
  });

  test('a completion without an invocation is an error', () => {
    expect(parseError([okPut]).message).toMatch(/h\.jsonl:1: process 0 ends a put \(ok\) it never invoked/);
  });

  test('a completion timed before its invocation is an error', () => {
    const early = '{"process":0,"type":"ok","f":"put","key":"k","time":0}';
    expect(parseError([invokePut, early]).line).toBe(2);
  });

  test('a completion of another operation is an error', () => {
    const other = '{"process":0,"type":"ok","f":"get","key":"k","value":1,"time":2}';
    expect(parseError([invokePut, other]).message).toMatch(
      /:2: process 0 ends a get but its open operation is the put/,
    );
  });

  test('a completion on another key is an error', () => {
    const other = '{"process":0,"type":"ok","f":"put","key":"j","time":2}';
    expect(parseError([invokePut, other]).message).toMatch(/:2: key "j" differs from "k"/);
  });

  test('a put needs a value and a cas needs expected', () => {
    expect(parseError(['{"process":0,"type":"invoke","f":"put","key":"k","time":1}']).message).toMatch(
      /:1: a put needs "value"/,
    );
    const cas = '{"process":0,"type":"invoke","f":"cas","key":"k","value":2,"time":1}';
    expect(parseError([cas]).message).toMatch(/:1: a cas needs "expected" \(null means absent\)/);
  });

  test('a successful get needs the value it read', () => {
    const get = '{"process":0,"type":"invoke","f":"get","key":"k","time":1}';
    const ok = '{"process":0,"type":"ok","f":"get","key":"k","time":2}';
    expect(parseError([get, ok]).message).toMatch(/:2: a successful get needs the "value" it read/);
  });

  test('events are ordered by time, not by line, and CRLF line ends are accepted', () => {
    const history = parseJsonlHistory(
      [
        '{"process":1,"type":"ok","f":"get","key":"k","value":1,"time":4}',
        okPut,
        '{"process":1,"type":"invoke","f":"get","key":"k","time":3}',
        invokePut,
      ].join('\r\n'),
    );
    expect(history.operations.map((op) => [op.f, op.call, op.ret])).toEqual([
      ['put', 1, 2],
      ['get', 3, 4],
    ]);
  });

  test('an invocation that never completes has an unknown outcome and no return', () => {
    const [op] = parseJsonlHistory(invokePut).operations;
    expect(op?.outcome).toBe('unknown');
    expect(op?.ret).toBe(Number.POSITIVE_INFINITY);
    expect(op?.retLine).toBeUndefined();
  });

  test('an invocation completed with info has an unknown outcome; its process may go on', () => {
    const info = '{"process":0,"type":"info","f":"put","key":"k","time":2}';
    const next = '{"process":0,"type":"invoke","f":"delete","key":"k","time":3}';
    const ops = parseJsonlHistory([invokePut, info, next].join('\n')).operations;
    expect(ops.map((op) => [op.f, op.outcome, op.retLine])).toEqual([
      ['put', 'unknown', 2],
      ['delete', 'unknown', undefined],
    ]);
  });

  test('a history longer than eventsMax is refused', () => {
    expect(() => parseJsonlHistory([invokePut, okPut].join('\n'), { eventsMax: 1 })).toThrow(
      /:2: more than 1 events/,
    );
  });
});
