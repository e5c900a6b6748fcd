import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Another live process holds the data folder: two nodes writing one WAL would corrupt it. */
export class DataDirLockedError extends Error {
  readonly code = 'ERR_DATA_DIR_LOCKED';
  constructor(dir: string, pid: number) {
    super(
      `the data folder ${dir} is in use by process ${pid} (see ${join(dir, LOCK_FILE)}): stop that ` +
        'process first; if no Flotilla node uses the folder, delete the lock file',
    );
    this.name = 'DataDirLockedError';
  }
}

const LOCK_FILE = 'flotilla.lock';

/**
 * One process per data folder. The lock is a file holding the owner's PID, created with O_EXCL
 * ('wx'); a lock left by a process that died (kill -9, power loss) names a PID that no longer
 * runs — or our own, when a container restarts us with the same PID — and is taken over.
 */
export class DirLock {
  private constructor(private readonly path: string) {}

  static acquire(dir: string): DirLock {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, LOCK_FILE);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o644);
        try {
          writeSync(fd, `${process.pid}\n`);
        } finally {
          closeSync(fd);
        }
        return new DirLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = ownerOf(path);
      if (owner !== undefined && owner !== process.pid && isAlive(owner))
        throw new DataDirLockedError(dir, owner);
      unlinkSync(path); // stale: its owner is gone
    }
    throw new Error(`cannot lock ${dir}: another process keeps taking ${path}`);
  }

  release(): void {
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone: nothing to release.
    }
  }
}

function ownerOf(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
