/**
 * The file operations the WAL and the snapshot store use, and nothing more. Two implementations:
 * `NodeFileLayer` over node:fs/promises, and `SimulatedDisk` (tests) which models what survives a
 * machine crash. Keeping the surface this small is what lets the simulated disk be exact about it.
 */

/**
 * How a file is opened. The WAL and the snapshot store pick one on purpose at each call site:
 * - `r`  read only;
 * - `r+` read and write an existing file, no O_APPEND (positioned writes);
 * - `wx` create a new file for writing, failing if the name exists (O_CREAT | O_EXCL), so a bug
 *        or a second process can never clobber a segment that holds acknowledged records;
 * - `wxd` `wx` plus O_DSYNC: each write returns only once its data, and the size needed to read
 *        it back, are on the disk — the write is its own fdatasync, one system call instead of two;
 * - `w`  create or truncate for writing;
 * - `a`  append (O_APPEND): every write lands at the end, whatever position is passed.
 */
export type OpenFlags = 'r' | 'r+' | 'wx' | 'wxd' | 'w' | 'a';

/** What `stat` reports. */
export interface FileStat {
  readonly size: number;
  readonly isDirectory: boolean;
}

/** An open file. Writes are complete: a short write is continued until every byte is written. */
export interface OpenFile {
  /** Reads up to `into.length` bytes at `position`; returns how many were read (0 at the end). */
  read(into: Uint8Array, position: number): Promise<number>;
  /** Writes all of `data` at `position`, or at the current end of the file when omitted. */
  write(data: Uint8Array, position?: number): Promise<void>;
  /** Writes `chunks` back to back with one vectored call, at `position` or at the end. */
  writev(chunks: readonly Uint8Array[], position?: number): Promise<void>;
  /** fdatasync(2): the data and the metadata needed to read it back (the size) reach the disk. */
  datasync(): Promise<void>;
  /** fsync(2): data and all metadata reach the disk. */
  sync(): Promise<void>;
  /** ftruncate(2). */
  truncate(length: number): Promise<void>;
  /** The current size in bytes (fstat). */
  size(): Promise<number>;
  close(): Promise<void>;
}

/** The file system as the storage code sees it. Paths are absolute or relative to the cwd. */
export interface FileLayer {
  open(path: string, flags: OpenFlags): Promise<OpenFile>;
  /** The whole file. Use it only for files whose size is bounded (a segment, a header). */
  readFile(path: string): Promise<Uint8Array>;
  /** Names (not paths) in `dir`, in no particular order. */
  readdir(dir: string): Promise<string[]>;
  /** Throws an error with code 'ENOENT' when the path does not exist. */
  stat(path: string): Promise<FileStat>;
  /** Creates `dir` and its parents when missing. */
  mkdir(dir: string): Promise<void>;
  /** rename(2): atomic replacement of `to`; durable only once the folder is synced. */
  rename(from: string, to: string): Promise<void>;
  /** unlink(2): durable only once the folder is synced. */
  unlink(path: string): Promise<void>;
  /** fsync of a directory: makes creations, renames and unlinks inside it durable. */
  syncDir(dir: string): Promise<void>;
}

/** True when `err` is a Node-style error carrying `code`. */
export function hasErrorCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
