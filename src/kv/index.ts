/** The replicated KV state machine: data model, command and result codecs, snapshots. */
export {
  COMMAND_CODEC_VERSION,
  decodeCommand,
  type EncodeCommandOptions,
  encodeCommand,
} from './command-codec.js';
export { crc32, crc32Update } from './crc32.js';
export { KvCommandError, type KvLimitCode, KvLimitError, KvResultError, KvSnapshotError } from './errors.js';
export { KvStore, type KvStoreOptions } from './kv-store.js';
export { decodeResult, encodeResult, RESULT_CODEC_VERSION } from './result-codec.js';
export type { SessionLimits } from './session-table.js';
export { SNAPSHOT_CHUNK_BYTES, SNAPSHOT_FORMAT_VERSION } from './snapshot-writer.js';
export * from './types.js';
