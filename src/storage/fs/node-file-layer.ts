import { constants } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import type { FileLayer, FileStat, OpenFile, OpenFlags } from './file-layer.js';

/** O_WRONLY | O_CREAT | O_EXCL | O_DSYNC: what `wxd` means (Node has no string for it). */
const WXD = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DSYNC;

/** `OpenFile` over a node:fs/promises FileHandle. */
class NodeOpenFile implements OpenFile {
  constructor(private readonly handle: FileHandle) {}

  async read(into: Uint8Array, position: number): Promise<number> {
    const { bytesRead } = await this.handle.read(into, 0, into.length, position);
    return bytesRead;
  }

  async write(data: Uint8Array, position?: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const at = position === undefined ? null : position + done;
      const { bytesWritten } = await this.handle.write(data, done, data.length - done, at);
      done += bytesWritten;
    }
  }

  async writev(chunks: readonly Uint8Array[], position?: number): Promise<void> {
    const { bytesWritten } = await this.handle.writev(chunks as Uint8Array[], position);
    let total = 0;
    for (const c of chunks) total += c.length;
    if (bytesWritten === total) return;
    // A short vectored write (rare: a signal, a full pipe): finish chunk by chunk.
    let skip = bytesWritten;
    let at = position === undefined ? undefined : position + bytesWritten;
    for (const c of chunks) {
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      const rest = c.subarray(skip);
      skip = 0;
      await this.write(rest, at);
      if (at !== undefined) at += rest.length;
    }
  }

  datasync(): Promise<void> {
    return this.handle.datasync();
  }

  sync(): Promise<void> {
    return this.handle.sync();
  }

  truncate(length: number): Promise<void> {
    return this.handle.truncate(length);
  }

  async size(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** The real file system, through node:fs/promises. */
export class NodeFileLayer implements FileLayer {
  async open(path: string, flags: OpenFlags): Promise<OpenFile> {
    return new NodeOpenFile(await open(path, flags === 'wxd' ? WXD : flags));
  }

  async readFile(path: string): Promise<Uint8Array> {
    return new Uint8Array(await readFile(path));
  }

  readdir(dir: string): Promise<string[]> {
    return readdir(dir);
  }

  async stat(path: string): Promise<FileStat> {
    const s = await stat(path);
    return { size: s.size, isDirectory: s.isDirectory() };
  }

  async mkdir(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
  }

  rename(from: string, to: string): Promise<void> {
    return rename(from, to);
  }

  unlink(path: string): Promise<void> {
    return unlink(path);
  }

  /** Opens the directory read-only and fsyncs it: how Linux makes a name change durable. */
  async syncDir(dir: string): Promise<void> {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
