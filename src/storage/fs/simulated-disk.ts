import { posix } from 'node:path';
import type { Rng } from '../../raft/types.js';
import type { FileLayer, FileStat, OpenFile, OpenFlags } from './file-layer.js';

/**
 * A machine's disk in memory, for tests that crash it. What it models:
 *
 * - every file has durable bytes (as of its last fsync/fdatasync) and live bytes (what reads see);
 *   a crash keeps the durable bytes and loses the rest, or, in the torn modes, keeps a random
 *   prefix of the pending change (`prefix`) or that prefix followed by zeros up to the live size
 *   (`zeros`: the size reached the disk but the data blocks did not);
 * - a creation, rename or unlink is durable only once its folder is fsynced (`syncDir`); until
 *   then a crash brings back the folder as it was at its last sync;
 * - folders themselves are durable as soon as they are made (a simplification: the storage code
 *   creates its folder once, at open);
 * - `stopAfter(n)` stops the machine at the n-th next write/fsync boundary: that operation and
 *   every later one throws `CrashError`, as if the power went out just before it; `crash()` then
 *   decides what survived and `fs()` boots the machine again;
 * - `failNextSync()` makes the next fsync/fdatasync fail with EIO;
 * - a file opened `wxd` (O_DSYNC) makes each write durable before it returns: the write is one
 *   boundary, its sync a second one (a crash between them finds the write in the page cache
 *   only, torn as the mode says), and a sync failure fails the write.
 *
 * Boundaries are the operations that change the disk: open with create, write, writev, truncate,
 * fsync, fdatasync, rename, unlink, mkdir and folder sync. Reads are not boundaries.
 */
export class SimulatedDisk {
  private live = new Map<string, Inode>();
  private durable = new Map<string, Inode>();
  private readonly dirs = new Set<string>(['/']);
  private epoch = 0;
  private stopped = false;
  private stopAt = Number.POSITIVE_INFINITY;
  private readonly syncFailures: string[] = [];
  private nextInode = 1;
  /** How many boundaries have passed since the disk was made. */
  boundaries = 0;

  /** The file layer of the machine as it runs now; it stops working at the next crash. */
  fs(): FileLayer {
    return new SimulatedFileLayer(this, this.epoch);
  }

  /** Stops the machine just before the boundary that comes after `n` more have passed. */
  stopAfter(n: number): void {
    this.stopAt = this.boundaries + n;
  }

  /** True once the machine has hit its stop point. */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** The next fsync, fdatasync or folder sync fails with `code` (default EIO). */
  failNextSync(code = 'EIO'): void {
    this.syncFailures.push(code);
  }

  /**
   * Power loss: every open file and file layer dies, and each file keeps what `mode` allows of
   * its unsynced bytes. `rng` draws the torn prefix (required for the torn modes).
   */
  crash(options: { mode?: TornMode; rng?: Rng } = {}): void {
    const mode = options.mode ?? 'none';
    const rng = options.rng;
    if (mode !== 'none' && rng === undefined) throw new Error('simulated-disk: a torn crash needs an rng');
    this.epoch++;
    this.stopped = false;
    this.stopAt = Number.POSITIVE_INFINITY;
    this.syncFailures.length = 0;
    const survivors = new Map<Inode, Inode>();
    const next = new Map<string, Inode>();
    for (const [path, inode] of this.durable) {
      let kept = survivors.get(inode);
      if (kept === undefined) {
        kept = this.inode(afterCrash(inode, mode, rng));
        survivors.set(inode, kept);
      }
      next.set(path, kept);
    }
    this.durable = next;
    this.live = new Map(next);
  }

  /** An independent copy of this disk, live and durable state alike (not its stop or failure plans). */
  clone(): SimulatedDisk {
    const copy = new SimulatedDisk();
    for (const d of this.dirs) copy.dirs.add(d);
    const copies = new Map<Inode, Inode>();
    const copyOf = (inode: Inode): Inode => {
      let c = copies.get(inode);
      if (c === undefined) {
        c = {
          id: copy.nextInode++,
          data: inode.data.slice(),
          length: inode.length,
          durable: inode.durable.slice(),
        };
        copies.set(inode, c);
      }
      return c;
    };
    for (const [path, inode] of this.live) copy.live.set(path, copyOf(inode));
    for (const [path, inode] of this.durable) copy.durable.set(path, copyOf(inode));
    return copy;
  }

  /** A copy of the file's bytes as reads see them, or undefined when it does not exist. */
  read(path: string): Uint8Array | undefined {
    const inode = this.live.get(normalize(path));
    return inode === undefined ? undefined : inode.data.slice(0, inode.length);
  }

  /** Sets a file's bytes, durably (a test fixture: a flipped byte, a cut tail). */
  write(path: string, bytes: Uint8Array): void {
    const p = normalize(path);
    this.makeDirs(posix.dirname(p));
    const inode = this.inode(bytes.slice());
    this.live.set(p, inode);
    this.durable.set(p, inode);
  }

  /** Names in `dir` as reads see them, sorted. */
  list(dir: string): string[] {
    return this.names(normalize(dir)).sort();
  }

  // ---- used by SimulatedFileLayer ----

  /** @internal Throws CrashError when the machine is stopped or this layer is from an older boot. */
  check(epoch: number): void {
    if (epoch !== this.epoch || this.stopped) throw new CrashError('the machine has stopped');
  }

  /** @internal Passes one boundary, or stops the machine at it. */
  boundary(epoch: number, what: string): void {
    this.check(epoch);
    if (this.boundaries >= this.stopAt) {
      this.stopped = true;
      throw new CrashError(`the machine stopped before ${what} (boundary ${this.boundaries})`);
    }
    this.boundaries++;
  }

  /** @internal Throws the injected sync failure, if any. */
  syncFailure(what: string): void {
    const code = this.syncFailures.shift();
    if (code !== undefined) {
      throw Object.assign(new Error(`${code}: i/o error, ${what}`), { code, syscall: what });
    }
  }

  /** @internal */
  lookup(path: string): Inode | undefined {
    return this.live.get(path);
  }

  /** @internal */
  create(path: string): Inode {
    const dir = posix.dirname(path);
    if (!this.dirs.has(dir)) throw fsError('ENOENT', 'open', path);
    const inode = this.inode(new Uint8Array(0));
    this.live.set(path, inode);
    return inode;
  }

  /** @internal */
  isDir(path: string): boolean {
    return this.dirs.has(path);
  }

  /** @internal */
  makeDirs(path: string): void {
    for (let p = path; !this.dirs.has(p); p = posix.dirname(p)) this.dirs.add(p);
  }

  /** @internal */
  rename(from: string, to: string): void {
    const inode = this.live.get(from);
    if (inode === undefined) throw fsError('ENOENT', 'rename', from);
    if (!this.dirs.has(posix.dirname(to))) throw fsError('ENOENT', 'rename', to);
    this.live.delete(from);
    this.live.set(to, inode);
  }

  /** @internal */
  unlink(path: string): void {
    if (!this.live.delete(path)) throw fsError('ENOENT', 'unlink', path);
  }

  /** @internal The folder's entries become what it holds now. */
  syncDir(dir: string): void {
    for (const path of [...this.durable.keys()]) {
      if (posix.dirname(path) === dir) this.durable.delete(path);
    }
    for (const [path, inode] of this.live) {
      if (posix.dirname(path) === dir) this.durable.set(path, inode);
    }
  }

  /** @internal */
  names(dir: string): string[] {
    if (!this.dirs.has(dir)) throw fsError('ENOENT', 'scandir', dir);
    const out: string[] = [];
    for (const path of this.live.keys()) if (posix.dirname(path) === dir) out.push(posix.basename(path));
    for (const d of this.dirs) if (d !== dir && posix.dirname(d) === dir) out.push(posix.basename(d));
    return out;
  }

  private inode(bytes: Uint8Array): Inode {
    return { id: this.nextInode++, data: bytes, length: bytes.length, durable: bytes.slice() };
  }
}

/** What a crash does with a file's unsynced bytes. */
export type TornMode = 'none' | 'prefix' | 'zeros';

/** The machine stopped (a simulated power cut): nothing after it happened. */
export class CrashError extends Error {
  readonly code = 'ERR_SIMULATED_CRASH';
  constructor(message: string) {
    super(message);
    this.name = 'CrashError';
  }
}

interface Inode {
  readonly id: number;
  /** Live bytes are data[0, length); data may have spare capacity. */
  data: Uint8Array;
  length: number;
  /** The bytes as of the last fsync/fdatasync. */
  durable: Uint8Array;
}

function afterCrash(inode: Inode, mode: TornMode, rng: Rng | undefined): Uint8Array {
  const durable = inode.durable;
  if (mode === 'none' || rng === undefined) return durable.slice();
  const live = inode.data.subarray(0, inode.length);
  let common = 0;
  const shorter = Math.min(durable.length, live.length);
  while (common < shorter && durable[common] === live[common]) common++;
  const cut = common + rng.nextInt(live.length - common + 1);
  if (mode === 'zeros' && live.length >= durable.length) {
    const out = new Uint8Array(live.length);
    out.set(live.subarray(0, cut));
    return out;
  }
  const out = new Uint8Array(Math.max(cut, durable.length));
  out.set(durable);
  out.set(live.subarray(0, cut));
  return out;
}

function normalize(path: string): string {
  return posix.resolve('/', path);
}

function fsError(code: string, syscall: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });
}

class SimulatedFileLayer implements FileLayer {
  constructor(
    private readonly disk: SimulatedDisk,
    private readonly epoch: number,
  ) {}

  async open(path: string, flags: OpenFlags): Promise<OpenFile> {
    await tick();
    const p = normalize(path);
    const existing = this.disk.lookup(p);
    if (this.disk.isDir(p)) throw fsError('EISDIR', 'open', p);
    switch (flags) {
      case 'r':
      case 'r+':
        this.disk.check(this.epoch);
        if (existing === undefined) throw fsError('ENOENT', 'open', p);
        return new SimulatedFile(this.disk, this.epoch, existing, flags);
      case 'wx':
      case 'wxd':
        this.disk.check(this.epoch);
        if (existing !== undefined) throw fsError('EEXIST', 'open', p);
        this.disk.boundary(this.epoch, `create ${p}`);
        return new SimulatedFile(this.disk, this.epoch, this.disk.create(p), flags);
      case 'w':
        this.disk.boundary(this.epoch, `open ${p} (w)`);
        if (existing === undefined)
          return new SimulatedFile(this.disk, this.epoch, this.disk.create(p), flags);
        existing.data.fill(0, 0, existing.length);
        existing.length = 0;
        return new SimulatedFile(this.disk, this.epoch, existing, flags);
      case 'a':
        if (existing !== undefined) {
          this.disk.check(this.epoch);
          return new SimulatedFile(this.disk, this.epoch, existing, flags);
        }
        this.disk.boundary(this.epoch, `create ${p}`);
        return new SimulatedFile(this.disk, this.epoch, this.disk.create(p), flags);
    }
  }

  async readFile(path: string): Promise<Uint8Array> {
    await tick();
    this.disk.check(this.epoch);
    const p = normalize(path);
    const inode = this.disk.lookup(p);
    if (inode === undefined) throw fsError(this.disk.isDir(p) ? 'EISDIR' : 'ENOENT', 'open', p);
    return inode.data.slice(0, inode.length);
  }

  async readdir(dir: string): Promise<string[]> {
    await tick();
    this.disk.check(this.epoch);
    return this.disk.names(normalize(dir));
  }

  async stat(path: string): Promise<FileStat> {
    await tick();
    this.disk.check(this.epoch);
    const p = normalize(path);
    if (this.disk.isDir(p)) return { size: 0, isDirectory: true };
    const inode = this.disk.lookup(p);
    if (inode === undefined) throw fsError('ENOENT', 'stat', p);
    return { size: inode.length, isDirectory: false };
  }

  async mkdir(dir: string): Promise<void> {
    await tick();
    const p = normalize(dir);
    this.disk.check(this.epoch);
    if (this.disk.isDir(p)) return;
    this.disk.boundary(this.epoch, `mkdir ${p}`);
    this.disk.makeDirs(p);
  }

  async rename(from: string, to: string): Promise<void> {
    await tick();
    this.disk.boundary(this.epoch, `rename ${from}`);
    this.disk.rename(normalize(from), normalize(to));
  }

  async unlink(path: string): Promise<void> {
    await tick();
    this.disk.boundary(this.epoch, `unlink ${path}`);
    this.disk.unlink(normalize(path));
  }

  async syncDir(dir: string): Promise<void> {
    await tick();
    const p = normalize(dir);
    this.disk.boundary(this.epoch, `fsync of folder ${p}`);
    if (!this.disk.isDir(p)) throw fsError('ENOENT', 'open', p);
    this.disk.syncFailure('fsync');
    this.disk.syncDir(p);
  }
}

class SimulatedFile implements OpenFile {
  private closed = false;

  constructor(
    private readonly disk: SimulatedDisk,
    private readonly epoch: number,
    private readonly inode: Inode,
    private readonly flags: OpenFlags,
  ) {}

  async read(into: Uint8Array, position: number): Promise<number> {
    await tick();
    this.live();
    // Like open(2): w, wx and a are O_WRONLY.
    if (this.flags !== 'r' && this.flags !== 'r+') throw fsError('EBADF', 'read', `inode ${this.inode.id}`);
    const n = Math.max(0, Math.min(into.length, this.inode.length - position));
    into.set(this.inode.data.subarray(position, position + n));
    return n;
  }

  async write(data: Uint8Array, position?: number): Promise<void> {
    await this.writev([data], position);
  }

  async writev(chunks: readonly Uint8Array[], position?: number): Promise<void> {
    await tick();
    this.live();
    if (this.flags === 'r') throw fsError('EBADF', 'write', `inode ${this.inode.id}`);
    this.disk.boundary(this.epoch, `write to inode ${this.inode.id}`);
    let at = this.flags === 'a' || position === undefined ? this.inode.length : position;
    for (const chunk of chunks) {
      this.ensure(at + chunk.length);
      this.inode.data.set(chunk, at);
      at += chunk.length;
      if (at > this.inode.length) this.inode.length = at;
    }
    if (this.flags === 'wxd') this.syncBody('O_DSYNC write');
  }

  async datasync(): Promise<void> {
    await this.syncNow('fdatasync');
  }

  async sync(): Promise<void> {
    await this.syncNow('fsync');
  }

  async truncate(length: number): Promise<void> {
    await tick();
    this.live();
    this.disk.boundary(this.epoch, `truncate inode ${this.inode.id}`);
    const old = this.inode.length;
    this.ensure(length);
    // Bytes past the end are kept zero so that a later extension reads back zeros.
    if (length < old) this.inode.data.fill(0, length, old);
    this.inode.length = length;
  }

  async size(): Promise<number> {
    await tick();
    this.live();
    return this.inode.length;
  }

  async close(): Promise<void> {
    await tick();
    this.closed = true;
  }

  private async syncNow(what: string): Promise<void> {
    await tick();
    this.live();
    this.syncBody(what);
  }

  private syncBody(what: string): void {
    this.disk.boundary(this.epoch, `${what} of inode ${this.inode.id}`);
    this.disk.syncFailure(what);
    this.inode.durable = this.inode.data.slice(0, this.inode.length);
  }

  private live(): void {
    this.disk.check(this.epoch);
    if (this.closed) throw fsError('EBADF', 'fd', `inode ${this.inode.id}`);
  }

  private ensure(length: number): void {
    if (length <= this.inode.data.length) return;
    const grown = new Uint8Array(Math.max(length, this.inode.data.length * 2, 256));
    grown.set(this.inode.data.subarray(0, this.inode.length));
    this.inode.data = grown;
  }
}

/** Lets other tasks run between file operations, as real I/O would. */
function tick(): Promise<void> {
  return Promise.resolve();
}
