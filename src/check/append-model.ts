import { formatScalar } from './history.js';
import type { Model } from './model.js';

/**
 * A string per key with `get`, `put` and `append`; a missing key reads as the empty string (a read
 * of `null` is taken to mean the same). Used by the Porcupine `kv-append` histories.
 */
export const appendModel: Model<string> = {
  name: 'append',
  ops: ['get', 'put', 'append'],
  init: () => '',
  step(state, op) {
    switch (op.f) {
      case 'get':
        return op.outcome !== 'ok' || (op.value ?? '') === state ? state : undefined;
      case 'put':
        return op.value as string;
      case 'append':
        return state + (op.value as string);
      default:
        return undefined;
    }
  },
  key: (state) => state,
  describeState: (state) => (state === '' ? 'the value is empty' : `the value is ${formatScalar(state)}`),
  validate(op) {
    if (!appendModel.ops.includes(op.f)) return `the append model has no ${op.f}`;
    if (op.f === 'get')
      return op.value === null || typeof op.value === 'string' ? undefined : 'get must read a string';
    return typeof op.value === 'string' ? undefined : `${op.f} needs a string value`;
  },
};
