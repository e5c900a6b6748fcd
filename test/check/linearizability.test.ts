import { describe, expect, test } from 'vitest';
import { appendModel } from '../../src/check/append-model.js';
import { checkHistory } from '../../src/check/check-history.js';
import { UnsupportedOperationError } from '../../src/check/errors.js';
import { explainViolation, verdictLine } from '../../src/check/explain.js';
import { ConfigError } from '../../src/raft/errors.js';
import { checkKv, ev, kvHistory, on } from './build.js';

describe('the basic rule: real-time order must be respected', () => {
  test('a sequential history that follows the model is linearizable', () => {
    const result = checkKv([
      ev(1, 0, 'invoke', 'put', 1),
      ev(2, 0, 'ok', 'put', 1),
      ev(3, 0, 'invoke', 'get'),
      ev(4, 0, 'ok', 'get', 1),
    ]);
    expect(result.verdict).toBe('ok');
    expect(result.keys[0]?.linearization?.map((op) => op.f)).toEqual(['put', 'get']);
  });

  test('a read that starts after a write completed cannot return the old value', () => {
    const result = checkKv([
      ev(1, 0, 'invoke', 'put', 1),
      ev(2, 0, 'ok', 'put', 1),
      ev(3, 1, 'invoke', 'get'),
      ev(4, 1, 'ok', 'get', null),
    ]);
    expect(result.verdict).toBe('violation');
    const key = result.keys[0];
    expect(key?.violation?.blocking.f).toBe('get');
    expect(key?.violation?.prefix.map((op) => op.f)).toEqual(['put']);
    expect(key && verdictLine(key)).toMatch(/key "k": NOT linearizable: get k → null/);
    expect(key && explainViolation(key)).toMatch(/impossible when the value is 1/);
  });

  test('a read concurrent with a write may return the old or the new value', () => {
    for (const read of [null, 1]) {
      const result = checkKv([
        ev(1, 0, 'invoke', 'put', 1),
        ev(2, 1, 'invoke', 'get'),
        ev(3, 1, 'ok', 'get', read),
        ev(4, 0, 'ok', 'put', 1),
      ]);
      expect(result.verdict, `read ${read}`).toBe('ok');
    }
  });

  test('two reads in real-time order cannot see a concurrent write un-happen', () => {
    const result = checkKv([
      ev(1, 0, 'invoke', 'put', 1),
      ev(2, 1, 'invoke', 'get'),
      ev(3, 1, 'ok', 'get', 1),
      ev(4, 2, 'invoke', 'get'),
      ev(5, 2, 'ok', 'get', null),
      ev(6, 0, 'ok', 'put', 1),
    ]);
    expect(result.verdict).toBe('violation');
  });

  test('events at the same time are concurrent, so the checker never guesses an order', () => {
    const result = checkKv([
      ev(1, 0, 'invoke', 'put', 1),
      ev(5, 0, 'ok', 'put', 1),
      ev(5, 1, 'invoke', 'get'),
      ev(6, 1, 'ok', 'get', null),
    ]);
    expect(result.verdict).toBe('ok');
  });

  test('keys are checked independently and the worst verdict wins', () => {
    const result = checkKv([
      on('a', ev(1, 0, 'invoke', 'put', 1)),
      on('a', ev(2, 0, 'ok', 'put', 1)),
      on('b', ev(3, 1, 'invoke', 'get')),
      on('b', ev(4, 1, 'ok', 'get', 7)),
      on('a', ev(5, 0, 'invoke', 'get')),
      on('a', ev(6, 0, 'ok', 'get', 1)),
    ]);
    expect(result.verdict).toBe('violation');
    expect(result.keys.map((k) => [k.key, k.verdict])).toEqual([
      ['a', 'ok'],
      ['b', 'violation'],
    ]);
  });
});

describe('operations with an unknown outcome', () => {
  test('an info write may take effect after its info event, between two later reads', () => {
    const result = checkKv([
      ev(1, 0, 'invoke', 'put', 1),
      ev(2, 0, 'info', 'put'),
      ev(3, 1, 'invoke', 'get'),
      ev(4, 1, 'ok', 'get', null),
      ev(5, 1, 'invoke', 'get'),
      ev(6, 1, 'ok', 'get', 1),
    ]);
    expect(result.verdict).toBe('ok');
  });

  test('an info write may never take effect', () => {
    const result = checkKv([
      ev(1, 0, 'invoke', 'put', 1),
      ev(2, 0, 'info', 'put'),
      ev(3, 1, 'invoke', 'get'),
      ev(4, 1, 'ok', 'get', null),
    ]);
    expect(result.verdict).toBe('ok');
  });

  test('a write that never completes may take effect late', () => {
    const result = checkKv([
      ev(1, 0, 'invoke', 'put', 1),
      ev(3, 1, 'invoke', 'get'),
      ev(4, 1, 'ok', 'get', null),
      ev(8, 1, 'invoke', 'get'),
      ev(9, 1, 'ok', 'get', 1),
    ]);
    expect(result.verdict).toBe('ok');
  });

  test('an info write cannot take effect before it was invoked', () => {
    const result = checkKv([
      ev(1, 1, 'invoke', 'get'),
      ev(2, 1, 'ok', 'get', 1),
      ev(3, 0, 'invoke', 'put', 1),
      ev(4, 0, 'info', 'put'),
    ]);
    expect(result.verdict).toBe('violation');
  });

  test('an info write, once observed, cannot be undone', () => {
    const result = checkKv([
      ev(1, 0, 'invoke', 'put', 1),
      ev(2, 0, 'info', 'put'),
      ev(3, 1, 'invoke', 'get'),
      ev(4, 1, 'ok', 'get', 1),
      ev(5, 1, 'invoke', 'get'),
      ev(6, 1, 'ok', 'get', null),
    ]);
    expect(result.verdict).toBe('violation');
  });

  test('an info cas takes effect only if the register held its expected value', () => {
    const events = [
      ev(1, 0, 'invoke', 'put', 1),
      ev(2, 0, 'ok', 'put', 1),
      ev(3, 1, 'invoke', 'cas', 2, 5),
      ev(4, 1, 'info', 'cas'),
      ev(5, 2, 'invoke', 'get'),
    ];
    expect(checkKv([...events, ev(6, 2, 'ok', 'get', 1)]).verdict).toBe('ok');
    expect(checkKv([...events, ev(6, 2, 'ok', 'get', 2)]).verdict).toBe('violation');
  });

  test('a read that fails or times out observed nothing and is dropped', () => {
    const result = checkKv([
      ev(1, 0, 'invoke', 'get'),
      ev(2, 0, 'info', 'get', 42),
      ev(3, 0, 'invoke', 'get'),
      ev(4, 0, 'fail', 'get', 43),
    ]);
    expect(result.verdict).toBe('ok');
    expect(result.droppedCount).toBe(2);
  });
});

describe('cas, delete and failed writes', () => {
  const putOne = [ev(1, 0, 'invoke', 'put', 1), ev(2, 0, 'ok', 'put', 1)];

  test('a cas that succeeds writes its value', () => {
    const result = checkKv([
      ...putOne,
      ev(3, 0, 'invoke', 'cas', 2, 1),
      ev(4, 0, 'ok', 'cas', 2, 1),
      ev(5, 0, 'invoke', 'get'),
      ev(6, 0, 'ok', 'get', 2),
    ]);
    expect(result.verdict).toBe('ok');
  });

  test('a cas cannot succeed when the register does not hold the expected value', () => {
    const result = checkKv([...putOne, ev(3, 0, 'invoke', 'cas', 2, 7), ev(4, 0, 'ok', 'cas', 2, 7)]);
    expect(result.verdict).toBe('violation');
  });

  test('a failed cas means the register did not hold the expected value, and wrote nothing', () => {
    const failed = [...putOne, ev(3, 0, 'invoke', 'cas', 2, 7), ev(4, 0, 'fail', 'cas', 2, 7)];
    expect(checkKv([...failed, ev(5, 0, 'invoke', 'get'), ev(6, 0, 'ok', 'get', 1)]).verdict).toBe('ok');
    expect(checkKv([...failed, ev(5, 0, 'invoke', 'get'), ev(6, 0, 'ok', 'get', 2)]).verdict).toBe(
      'violation',
    );
  });

  test('a cas cannot fail when the register held the expected value', () => {
    const result = checkKv([...putOne, ev(3, 0, 'invoke', 'cas', 2, 1), ev(4, 0, 'fail', 'cas', 2, 1)]);
    expect(result.verdict).toBe('violation');
    expect(result.keys[0] && explainViolation(result.keys[0])).toMatch(/cas k 1→2 \(failed\).*impossible/);
  });

  test('a cas expecting null succeeds only while the key is absent', () => {
    const create = [ev(1, 0, 'invoke', 'cas', 1, null), ev(2, 0, 'ok', 'cas', 1, null)];
    expect(checkKv(create).verdict).toBe('ok');
    expect(checkKv([...putOne, ...create.map((e) => ({ ...e, time: e.time + 2 }))]).verdict).toBe(
      'violation',
    );
  });

  test('a delete makes the key absent', () => {
    const deleted = [...putOne, ev(3, 0, 'invoke', 'delete'), ev(4, 0, 'ok', 'delete')];
    expect(checkKv([...deleted, ev(5, 1, 'invoke', 'get'), ev(6, 1, 'ok', 'get', null)]).verdict).toBe('ok');
    expect(checkKv([...deleted, ev(5, 1, 'invoke', 'get'), ev(6, 1, 'ok', 'get', 1)]).verdict).toBe(
      'violation',
    );
  });

  test('a put or delete that failed did not take effect', () => {
    const failedPut = [ev(1, 0, 'invoke', 'put', 1), ev(2, 0, 'fail', 'put', 1), ev(3, 1, 'invoke', 'get')];
    expect(checkKv([...failedPut, ev(4, 1, 'ok', 'get', null)]).verdict).toBe('ok');
    expect(checkKv([...failedPut, ev(4, 1, 'ok', 'get', 1)]).verdict).toBe('violation');
    const failedDelete = [...putOne, ev(3, 0, 'invoke', 'delete'), ev(4, 0, 'fail', 'delete')];
    expect(checkKv([...failedDelete, ev(5, 0, 'invoke', 'get'), ev(6, 0, 'ok', 'get', 1)]).verdict).toBe(
      'ok',
    );
  });

  test('values compare by strict equality: the string "1" is not the number 1', () => {
    const result = checkKv([...putOne, ev(3, 0, 'invoke', 'get'), ev(4, 0, 'ok', 'get', '1')]);
    expect(result.verdict).toBe('violation');
  });
});

describe('budgets', () => {
  // Ten concurrent writes and reads: the search needs far more than one step.
  const busy = Array.from({ length: 10 }, (_, p) => [
    ev(p, p, 'invoke', 'put', p),
    ev(20 + p, p, 'ok', 'put', p),
    ev(40 + p, p, 'invoke', 'get'),
    ev(60 + p, p, 'ok', 'get', 9),
  ]).flat();

  test('the busy history is linearizable with the default budget', () => {
    expect(checkKv(busy).verdict).toBe('ok');
  });

  test('running out of steps gives unknown, never ok', () => {
    const result = checkKv(busy, { budget: { stepsMax: 1 } });
    expect(result.verdict).toBe('unknown');
    expect(result.keys[0]?.unknownReason).toMatch(/stepsMax 1/);
    expect(result.keys[0]?.steps).toBe(1);
  });

  test('running out of time gives unknown', () => {
    // 18 writes that never complete and a read of a value none of them wrote: proving that no
    // subset and order of the writes explains the read takes millions of steps.
    const hard = [
      ...Array.from({ length: 18 }, (_, p) => ev(p, p, 'invoke', 'put', p)),
      ev(100, 99, 'invoke', 'get'),
      ev(101, 99, 'ok', 'get', 'never written'),
    ];
    const started = performance.now();
    const result = checkKv(hard, { budget: { msMax: 20 } });
    expect(result.verdict).toBe('unknown');
    expect(result.keys[0]?.unknownReason).toMatch(/msMax 20/);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test('running out of cache entries gives unknown', () => {
    const result = checkKv(busy, { budget: { cacheEntriesMax: 1 } });
    expect(result.verdict).toBe('unknown');
    expect(result.keys[0]?.unknownReason).toMatch(/cacheEntriesMax 1/);
  });

  test('a violation found within the budget is reported even if another key is unknown', () => {
    const bad = [on('z', ev(100, 50, 'invoke', 'get')), on('z', ev(101, 50, 'ok', 'get', 3))];
    const result = checkKv([...busy, ...bad], { budget: { stepsMax: 5 } });
    expect(result.keys.map((k) => k.verdict)).toEqual(['unknown', 'violation']);
    expect(result.verdict).toBe('violation');
  });

  test('a budget must be a positive integer', () => {
    expect(() => checkKv(busy, { budget: { stepsMax: 0 } })).toThrow(ConfigError);
  });
});

test('an operation the model does not define is refused with a stable code', () => {
  const history = kvHistory([ev(1, 0, 'invoke', 'append', 'x'), ev(2, 0, 'ok', 'append', 'x')]);
  expect(() => checkHistory(history, appendModel)).not.toThrow();
  try {
    checkKv([ev(1, 0, 'invoke', 'append', 'x'), ev(2, 0, 'ok', 'append', 'x')]);
    expect.unreachable('the kv model has no append');
  } catch (err) {
    expect(err).toBeInstanceOf(UnsupportedOperationError);
    expect((err as UnsupportedOperationError).code).toBe('ERR_CHECK_UNSUPPORTED_OP');
    expect((err as Error).message).toMatch(/line 1: the kv model has no append/);
  }
});
