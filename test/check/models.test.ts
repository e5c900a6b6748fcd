import { describe, expect, test } from 'vitest';
import { appendModel } from '../../src/check/append-model.js';
import { checkHistory } from '../../src/check/check-history.js';
import { UnsupportedOperationError } from '../../src/check/errors.js';
import type { Operation } from '../../src/check/history.js';
import { kvModel, registerModel } from '../../src/check/register-model.js';
import { ev, kvHistory } from './build.js';

function op(fields: Partial<Operation>): Operation {
  return {
    id: 0,
    process: 0,
    f: 'get',
    key: 'k',
    value: null,
    expected: null,
    outcome: 'ok',
    call: 0,
    ret: 1,
    line: 1,
    retLine: 2,
    ...fields,
  };
}

describe('the register and KV models', () => {
  test('start absent and follow write, delete and cas', () => {
    expect(kvModel.init()).toBeNull();
    expect(kvModel.step(null, op({ f: 'put', value: 3 }))).toBe(3);
    expect(kvModel.step(3, op({ f: 'delete' }))).toBeNull();
    expect(kvModel.step(3, op({ f: 'get', value: 3 }))).toBe(3);
    expect(kvModel.step(3, op({ f: 'get', value: null }))).toBeUndefined();
    expect(registerModel.step(3, op({ f: 'write', value: 4 }))).toBe(4);
    expect(registerModel.step(4, op({ f: 'cas', expected: 4, value: 5, outcome: 'unknown' }))).toBe(5);
    expect(registerModel.step(4, op({ f: 'cas', expected: 3, value: 5, outcome: 'unknown' }))).toBe(4);
  });

  test('describe states in words', () => {
    expect(kvModel.describeState(null)).toBe('the value is absent');
    expect(registerModel.describeState('x')).toBe('the value is "x"');
  });

  test('refuse operations of another model', () => {
    expect(registerModel.validate(op({ f: 'get' }))).toMatch(/the register model has no get/);
    expect(kvModel.validate(op({ f: 'read' }))).toMatch(/the kv model has no read/);
  });
});

describe('the append model', () => {
  test('starts empty, appends and puts; a read of null means empty', () => {
    expect(appendModel.init()).toBe('');
    expect(appendModel.step('', op({ f: 'get', value: null }))).toBe('');
    expect(appendModel.step('a', op({ f: 'append', value: 'b' }))).toBe('ab');
    expect(appendModel.step('ab', op({ f: 'put', value: 'c' }))).toBe('c');
    expect(appendModel.step('ab', op({ f: 'get', value: 'a' }))).toBeUndefined();
  });

  test('needs strings', () => {
    const history = kvHistory([ev(1, 0, 'invoke', 'append', 7), ev(2, 0, 'ok', 'append', 7)]);
    expect(() => checkHistory(history, appendModel)).toThrow(UnsupportedOperationError);
    expect(() => checkHistory(history, appendModel)).toThrow(/line 1: append needs a string value/);
  });
});
