// fast-check arbitraries for every frame the transport sends.
import fc from 'fast-check';
import type { Message, MessageType } from '../../src/raft/messages.js';
import { type Entry, EntryKind, index, type SnapshotMeta, term } from '../../src/raft/types.js';
import type { ControlFrame, Frame } from '../../src/transport/frames.js';

/** Every Raft message type; a compile error here means messages.ts grew a type the codec must learn. */
export const MESSAGE_TYPES: Record<MessageType, true> = {
  app: true,
  'app-resp': true,
  heartbeat: true,
  'heartbeat-resp': true,
  vote: true,
  'pre-vote': true,
  'vote-resp': true,
  'pre-vote-resp': true,
  snapshot: true,
  'timeout-now': true,
};

/** Integers in [0, 2^53), biased towards the edges of u32 and of exact doubles. */
export const u53 = fc.oneof(
  fc.constantFrom(0, 1, 0xffff_ffff, 0x1_0000_0000, Number.MAX_SAFE_INTEGER),
  fc.nat(1000),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
);
const termArb = u53.map(term);
const indexArb = u53.map(index);
/** Node ids: any printable Unicode, including multi-code-point graphemes. */
export const nodeId = fc.string({ unit: 'grapheme', maxLength: 8 });
const bytes = fc.uint8Array({ maxLength: 48 });
const kind = fc.constantFrom(EntryKind.Normal, EntryKind.Empty, EntryKind.Config);

const entry: fc.Arbitrary<Entry> = fc.record({ term: termArb, index: indexArb, kind, data: bytes });
const ids = fc.array(nodeId, { maxLength: 5 });

/**
 * Snapshot metas with the whole configuration: learners and outgoing voters (left out when empty,
 * as snapshotMetaOf does) and sometimes addresses, possibly an empty map.
 */
export const snapshotMetaArb: fc.Arbitrary<SnapshotMeta> = fc
  .record({
    index: indexArb,
    term: termArb,
    voters: ids,
    learners: ids,
    outgoing: ids,
    addresses: fc.option(
      fc.dictionary(nodeId, fc.string({ unit: 'grapheme', maxLength: 24 }), {
        maxKeys: 5,
        noNullPrototype: true,
      }),
      { nil: undefined },
    ),
  })
  .map(({ learners, outgoing, addresses, ...rest }) => ({
    ...rest,
    ...(learners.length > 0 ? { learners } : {}),
    ...(outgoing.length > 0 ? { outgoing } : {}),
    ...(addresses !== undefined ? { addresses } : {}),
  }));
const envelope = { from: nodeId, to: nodeId, term: termArb };

export const messageArb: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    type: fc.constant('app' as const),
    ...envelope,
    prevIndex: indexArb,
    prevTerm: termArb,
    entries: fc.array(entry, { maxLength: 5 }),
    commit: indexArb,
  }),
  fc.record({
    type: fc.constant('app-resp' as const),
    ...envelope,
    index: indexArb,
    reject: fc.boolean(),
    hintIndex: indexArb,
    hintTerm: termArb,
  }),
  fc.record({ type: fc.constant('heartbeat' as const), ...envelope, commit: indexArb, context: u53 }),
  fc.record({ type: fc.constant('heartbeat-resp' as const), ...envelope, context: u53 }),
  fc.record({
    type: fc.constantFrom('vote' as const, 'pre-vote' as const),
    ...envelope,
    lastIndex: indexArb,
    lastTerm: termArb,
    transfer: fc.boolean(),
  }),
  fc.record({ type: fc.constant('timeout-now' as const), ...envelope }),
  fc.record({
    type: fc.constantFrom('vote-resp' as const, 'pre-vote-resp' as const),
    ...envelope,
    reject: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('snapshot' as const),
    ...envelope,
    snapshot: snapshotMetaArb,
  }),
);

export const controlFrameArb: fc.Arbitrary<ControlFrame> = fc.oneof(
  fc.record({
    type: fc.constant('handshake' as const),
    version: fc.nat(0xffff),
    clusterId: fc.string({ unit: 'grapheme', maxLength: 12 }),
    from: nodeId,
    to: nodeId,
  }),
  fc.record({ type: fc.constant('refuse' as const), reason: fc.string({ unit: 'grapheme', maxLength: 40 }) }),
  fc.record({
    type: fc.constantFrom('rpc-request' as const, 'rpc-response' as const),
    id: u53,
    payload: bytes,
  }),
  fc.record({ type: fc.constant('rpc-error' as const), id: u53, message: fc.string({ maxLength: 40 }) }),
  fc.record({
    type: fc.constant('snapshot-chunk' as const),
    meta: snapshotMetaArb,
    offset: u53,
    last: fc.boolean(),
    data: bytes,
  }),
  fc.record({ type: fc.constant('snapshot-ack' as const), snapshotIndex: indexArb, offset: u53 }),
  fc.record({
    type: fc.constant('snapshot-result' as const),
    snapshotIndex: indexArb,
    ok: fc.boolean(),
    reason: fc.string({ maxLength: 40 }),
  }),
);

export const frameArb: fc.Arbitrary<Frame> = fc.oneof(messageArb, controlFrameArb);
