// One process per data folder: a second node on the same folder is refused, a dead owner's lock is taken over.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { DataDirLockedError } from '../../src/storage/dir-lock.js';
import { DurableStorage } from '../../src/storage/durable-storage.js';

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('a folder locked by a live process is refused with a clear error; once that process is gone it opens', async () => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-lock-'));
  // Another live process (ours to start and to end) holds the lock.
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  try {
    writeFileSync(join(dir, 'flotilla.lock'), `${other.pid}\n`);
    const err = await DurableStorage.open({ dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect((err as Error).message).toContain(`in use by process ${other.pid}`);
  } finally {
    await new Promise((resolve) => {
      other.once('exit', resolve);
      other.kill('SIGKILL');
    });
  }
  // The owner died without releasing (kill -9): its lock is stale and taken over.
  const storage = await DurableStorage.open({ dir });
  expect(existsSync(join(dir, 'flotilla.lock'))).toBe(true);
  await storage.close();
  expect(existsSync(join(dir, 'flotilla.lock'))).toBe(false);
});
