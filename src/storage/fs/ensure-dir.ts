import { dirname } from 'node:path';
import { type FileLayer, hasErrorCode } from './file-layer.js';

/**
 * Creates `dir` (and missing parents) so that it survives a crash: a new folder's name is an
 * entry in its parent, durable only once the parent is fsynced. Does nothing to a folder that
 * exists. Returns true when it created something.
 */
export async function ensureDir(fs: FileLayer, dir: string): Promise<boolean> {
  const missing: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    if (await exists(fs, d)) break;
    missing.push(d);
    if (dirname(d) === d) break;
  }
  if (missing.length === 0) return false;
  await fs.mkdir(dir);
  // Parents first, from the outermost new folder's parent down to dir's parent.
  for (const d of missing.reverse()) await fs.syncDir(dirname(d));
  return true;
}

async function exists(fs: FileLayer, path: string): Promise<boolean> {
  try {
    await fs.stat(path);
    return true;
  } catch (err) {
    if (hasErrorCode(err, 'ENOENT')) return false;
    throw err;
  }
}
