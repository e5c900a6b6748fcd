import { formatScalar, type Operation, type Scalar } from './history.js';
import type { Model } from './model.js';

/**
 * The outcome of a compare-and-set on a register holding `state`. `ok` means the register held
 * `expected` and now holds `value`; `fail` means it did not hold `expected` and nothing was written.
 */
export function casStep(state: Scalar, op: Operation): Scalar | undefined {
  const holds = state === op.expected;
  switch (op.outcome) {
    case 'ok':
      return holds ? op.value : undefined;
    case 'fail':
      return holds ? undefined : state;
    case 'unknown':
      return holds ? op.value : state;
  }
}

function describeValue(state: Scalar): string {
  return state === null ? 'the value is absent' : `the value is ${formatScalar(state)}`;
}

/**
 * A register of JSON scalars with `read`, `write` and `cas`, as in Jepsen's etcd test. It starts
 * absent (`null`); a read of `null` observes "absent".
 */
export const registerModel: Model<Scalar> = {
  name: 'register',
  ops: ['read', 'write', 'cas'],
  init: () => null,
  step(state, op) {
    switch (op.f) {
      case 'read':
        return op.outcome !== 'ok' || op.value === state ? state : undefined;
      case 'write':
        return op.value;
      case 'cas':
        return casStep(state, op);
      default:
        return undefined;
    }
  },
  key: (state) => state,
  describeState: describeValue,
  validate: (op) => (registerModel.ops.includes(op.f) ? undefined : `the register model has no ${op.f}`),
};

/**
 * One key of the Flotilla KV store: `get` (`null` = not found), `put`, `delete` and `cas` whose
 * `expected` may be `null` (succeeds only when the key is absent). Keys are independent.
 */
export const kvModel: Model<Scalar> = {
  name: 'kv',
  ops: ['get', 'put', 'delete', 'cas'],
  init: () => null,
  step(state, op) {
    switch (op.f) {
      case 'get':
        return op.outcome !== 'ok' || op.value === state ? state : undefined;
      case 'put':
        return op.value;
      case 'delete':
        return null;
      case 'cas':
        return casStep(state, op);
      default:
        return undefined;
    }
  },
  key: (state) => state,
  describeState: describeValue,
  validate: (op) => (kvModel.ops.includes(op.f) ? undefined : `the kv model has no ${op.f}`),
};
