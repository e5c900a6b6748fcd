export { crc32c, crc32cUpdate } from './crc32c.js';
export { FsyncFailedError, WalCorruptionError, WalWriteError } from './errors.js';
export { RECORD_BYTES_MAX, RecordType } from './record.js';
export { type SegmentReport, scanWal, type TornTail, type WalScan } from './replay.js';
export { parseSegmentName, segmentName } from './segment-name.js';
export { SEGMENT_BYTES_DEFAULT, Wal, type WalOptions, type WalRecovered, type WalUpdate } from './wal.js';
