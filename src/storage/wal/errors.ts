import { FlotillaError } from '../../raft/errors.js';

const RECOVER =
  "restore this node's data folder from a healthy peer's copy, or remove this node's data and " +
  're-join it to the cluster as a new member (the other members still hold every committed entry)';

/**
 * A WAL record is damaged and a valid record follows it, so it is not a torn write from a crash:
 * the disk or something else changed acknowledged data. The node refuses to start.
 */
export class WalCorruptionError extends FlotillaError {
  override readonly code = 'ERR_WAL_CORRUPT';
  constructor(
    /** The segment file. */
    readonly file: string,
    /** The byte offset of the damaged record in `file`. */
    readonly offset: number,
    detail: string,
  ) {
    super(
      `WAL corruption in ${file} at byte offset ${offset}: ${detail}. Records that were ` +
        `acknowledged may be lost, so this node will not start. To recover, ${RECOVER}.`,
    );
    this.name = 'WalCorruptionError';
  }
}

/**
 * An fsync or fdatasync failed. The WAL (or snapshot store) is now failed: every later call
 * rejects with this error, and the node must stop.
 */
export class FsyncFailedError extends FlotillaError {
  override readonly code = 'ERR_FSYNC_FAILED';
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(
      `fsync of ${path} failed (${describe(cause)}); the node must stop now. After a failed fsync ` +
        'the kernel may have dropped the unwritten pages and marked them clean, so a retried fsync ' +
        'can succeed without the data ever reaching the disk. Restart the node once the disk is ' +
        'healthy: recovery reads back only what is really on the disk.',
      { cause },
    );
    this.name = 'FsyncFailedError';
  }
}

/**
 * A write to a WAL segment failed (the disk is full, an I/O error): the segment's tail is no
 * longer known, so the WAL is failed and the node must stop.
 */
export class WalWriteError extends FlotillaError {
  override readonly code = 'ERR_WAL_WRITE';
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(
      `writing ${path} failed (${describe(cause)}); the WAL can no longer tell what this segment ` +
        'holds, so the node must stop. Fix the cause (free disk space, replace the disk) and restart ' +
        'it: recovery truncates a partly written record.',
      { cause },
    );
    this.name = 'WalWriteError';
  }
}

function describe(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  return String(cause);
}
