export { SnapshotCorruptionError } from './errors.js';
export { type SnapshotMeta, snapshotFileName } from './snapshot-file.js';
export {
  CHUNK_BYTES_DEFAULT,
  type SnapshotDescription,
  SnapshotStore,
  type SnapshotStoreOptions,
  SnapshotWriter,
  snapshotNames,
  verifySnapshotFile,
} from './snapshot-store.js';
