import { FlotillaError } from '../../raft/errors.js';

/** A snapshot file fails its checks (header, size or data checksum). */
export class SnapshotCorruptionError extends FlotillaError {
  override readonly code = 'ERR_SNAPSHOT_CORRUPT';
  constructor(
    /** The snapshot file, or the folder when no snapshot in it is valid. */
    readonly file: string,
    detail: string,
  ) {
    super(
      `snapshot ${file}: ${detail}. Restore this node's data folder from a healthy peer's copy, or ` +
        "remove this node's data and re-join it to the cluster so that the leader sends a fresh snapshot.",
    );
    this.name = 'SnapshotCorruptionError';
  }
}
