import { join } from 'node:path';
import { decodeMembership, type Membership } from '../../raft/membership.js';
import { type Entry, EntryKind, type Index, type NodeId } from '../../raft/types.js';
import { type FileLayer, hasErrorCode } from '../fs/file-layer.js';
import { NodeFileLayer } from '../fs/node-file-layer.js';
import { snapshotNames, verifySnapshotFile } from '../snapshot/snapshot-store.js';
import { WalCorruptionError } from './errors.js';
import { type SegmentReport, scanWal, segmentNames, type WalScan } from './replay.js';

/** Exit statuses of `wal inspect`; 64 and up follow BSD sysexits. */
export const EXIT = { ok: 0, corrupt: 1, usage: 64, noInput: 66 } as const;

const USAGE = `Usage: npm run wal -- inspect DIR

Lists a node's WAL segments and snapshot files, verifies every checksum, and prints the first
and last index and term, the hard state, the snapshot marker, every configuration (each Config
entry in the log and each snapshot's: voters, the outgoing voters of a joint configuration,
learners, addresses) and any torn tail or corruption. Nothing is changed on disk. DIR is a data
folder holding wal/ and snap/, or a folder holding the segment (*.wal) and snapshot (*.snap)
files themselves.

Exit status: 0 every checksum verifies (a torn tail, which the next start cuts off, is fine),
1 corruption in the WAL (a Config entry that does not decode included) or a damaged snapshot,
64 usage error, 66 DIR does not exist.

Example:
  npm run wal -- inspect /var/lib/flotilla/node-a`;

/** Where the tool writes; tests pass their own. */
export interface InspectIo {
  out(text: string): void;
  err(text: string): void;
}

const processIo: InspectIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/** `wal inspect DIR`; resolves with the exit status. */
export async function main(
  argv: readonly string[],
  io: InspectIo = processIo,
  fs: FileLayer = new NodeFileLayer(),
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(USAGE);
    return EXIT.ok;
  }
  const [command, dir, ...rest] = argv;
  if (command !== 'inspect' || dir === undefined || rest.length > 0) {
    io.err(
      `${command === undefined ? 'no command given' : `unexpected arguments: ${argv.join(' ')}`}\n\n${USAGE}`,
    );
    return EXIT.usage;
  }
  if (!(await isDir(fs, dir))) {
    io.err(`wal inspect: ${dir} is not a folder`);
    return EXIT.noInput;
  }
  const walDir = (await isDir(fs, join(dir, 'wal'))) ? join(dir, 'wal') : dir;
  const snapDir = (await isDir(fs, join(dir, 'snap'))) ? join(dir, 'snap') : dir;
  const walOk = await inspectWal(fs, walDir, io);
  const snapOk = await inspectSnapshots(fs, snapDir, io);
  io.out(walOk && snapOk ? 'verdict: ok' : 'verdict: CORRUPT (see above)');
  return walOk && snapOk ? EXIT.ok : EXIT.corrupt;
}

async function inspectWal(fs: FileLayer, dir: string, io: InspectIo): Promise<boolean> {
  io.out(`WAL in ${dir}`);
  let scan: WalScan;
  try {
    scan = await scanWal(fs, dir);
  } catch (err) {
    if (!(err instanceof WalCorruptionError)) throw err;
    for (const seg of await segmentNames(fs, dir).catch(() => [])) {
      io.out(`  ${seg.name}  ${(await fs.stat(join(dir, seg.name))).size} bytes`);
    }
    io.out(`  CORRUPT: ${err.message}`);
    return false;
  }
  if (scan.segments.length === 0) io.out('  no segments');
  for (const seg of scan.segments) io.out(`  ${describeSegment(seg)}`);
  for (const t of scan.torn) {
    io.out(
      `  torn tail: ${t.file}: ${t.bytes} bytes from byte offset ${t.offset} (${t.reason}); ` +
        'the next start cuts them off',
    );
  }
  const hs = scan.hardState;
  io.out(
    `hard state: term ${hs.term}, vote ${hs.vote === '' ? '(none)' : JSON.stringify(hs.vote)}, commit ${hs.commit}`,
  );
  io.out(
    scan.snapshot === undefined
      ? 'snapshot marker: none'
      : `snapshot marker: index ${scan.snapshot.index}, term ${scan.snapshot.term}`,
  );
  const first = scan.entries[0];
  const last = scan.entries.at(-1);
  io.out(
    first === undefined || last === undefined
      ? 'log: no entries after the snapshot'
      : `log: entries ${first.index}..${last.index} (${scan.entries.length}), first term ${first.term}, last term ${last.term}`,
  );
  return inspectConfigs(scan.entries, hs.commit, io);
}

/**
 * Lists the Config entries (thesis §4.1: each takes effect when appended, so an uncommitted one is
 * in force too). Returns false if one does not decode: the node could not start from this log.
 */
function inspectConfigs(entries: readonly Entry[], commit: Index, io: InspectIo): boolean {
  const configs = entries.filter((e) => e.kind === EntryKind.Config);
  if (configs.length === 0) return true;
  io.out(`configuration changes in the log: ${configs.length}`);
  let ok = true;
  for (const e of configs) {
    const at = `  index ${e.index}, term ${e.term}${e.index > commit ? ' (uncommitted)' : ''}`;
    let m: Membership;
    try {
      m = decodeMembership(e.data);
    } catch (err) {
      ok = false;
      io.out(
        `${at}: CORRUPT: the configuration does not decode: ${err instanceof Error ? err.message : String(err)}`,
      );
      continue;
    }
    io.out(`${at}: ${describeMembers(m)}`);
    if (m.addresses !== undefined) io.out(`    ${describeAddresses(m.addresses)}`);
  }
  return ok;
}

async function inspectSnapshots(fs: FileLayer, dir: string, io: InspectIo): Promise<boolean> {
  io.out(`snapshots in ${dir}`);
  const names = await snapshotNames(fs, dir);
  if (names.length === 0) io.out('  none');
  let ok = true;
  for (const name of names) {
    const meta = await verifySnapshotFile(fs, dir, name);
    if (typeof meta === 'string') {
      ok = false;
      io.out(`  ${name}  DAMAGED: ${meta}`);
      continue;
    }
    const members = describeMembers({
      voters: meta.voters,
      outgoing: meta.outgoing ?? [],
      learners: meta.learners ?? [],
    });
    io.out(
      `  ${name}  index ${meta.index}, term ${meta.term}, ${members}, ${meta.bytes} data bytes, checksum ok`,
    );
    if (meta.addresses !== undefined) io.out(`    ${describeAddresses(meta.addresses)}`);
  }
  const temps = (await fs.readdir(dir)).filter((n) => n.endsWith('.tmp'));
  if (temps.length > 0)
    io.out(`  ${temps.length} temporary file(s) a crashed writer left; removed at the next start`);
  return ok;
}

/** `voters a,b,c`, then the outgoing voters of a joint configuration and the learners, if any. */
function describeMembers(m: Membership): string {
  const parts = [`voters ${m.voters.join(',') || '(none)'}`];
  if (m.outgoing.length > 0) parts.push(`outgoing ${m.outgoing.join(',')} (joint)`);
  if (m.learners.length > 0) parts.push(`learners ${m.learners.join(',')}`);
  return parts.join(', ');
}

function describeAddresses(addresses: Readonly<Record<NodeId, string>>): string {
  const pairs = Object.entries(addresses).map(([id, address]) => `${id}=${address}`);
  return `addresses ${pairs.join(' ') || '(none)'}`;
}

function describeSegment(s: SegmentReport): string {
  const entries =
    s.firstEntry === undefined || s.lastEntry === undefined
      ? 'no entries'
      : `entries ${s.firstEntry.index}..${s.lastEntry.index} (terms ${s.firstEntry.term}..${s.lastEntry.term})`;
  const state =
    s.validBytes === s.bytes ? 'checksums ok' : `checksums ok up to byte ${s.validBytes}, then a torn tail`;
  return `${s.name}  ${s.bytes} bytes, ${s.records} records, ${entries}, ${state}`;
}

async function isDir(fs: FileLayer, path: string): Promise<boolean> {
  try {
    return (await fs.stat(path)).isDirectory;
  } catch (err) {
    if (hasErrorCode(err, 'ENOENT') || hasErrorCode(err, 'ENOTDIR')) return false;
    throw err;
  }
}
