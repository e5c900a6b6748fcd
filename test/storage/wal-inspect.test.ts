import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { encodeMembership, type Membership } from '../../src/raft/membership.js';
import { type Entry, EntryKind, index, term } from '../../src/raft/types.js';
import { SimulatedDisk } from '../../src/storage/fs/simulated-disk.js';
import { SnapshotStore } from '../../src/storage/snapshot/snapshot-store.js';
import { EXIT, main } from '../../src/storage/wal/inspect.js';
import { Wal } from '../../src/storage/wal/wal.js';
import { entries, hardState } from './helpers.js';

const NODE = '/data/node';

async function fixture(): Promise<SimulatedDisk> {
  const disk = new SimulatedDisk();
  const fs = disk.fs();
  const { wal } = await Wal.open({ dir: `${NODE}/wal`, fs, segmentBytes: 200 });
  for (let i = 1; i <= 12; i += 3)
    await wal.save({ entries: entries(i, i + 2, 1), hardState: hardState(1, 'a', i) });
  await wal.save({ entries: entries(13, 14, 2), hardState: hardState(2, 'b', 12) });
  await wal.saveSnapshotMarker(index(5), term(1));
  await wal.close();
  const snaps = await SnapshotStore.open({ dir: `${NODE}/snap`, fs });
  const w = snaps.create({ index: index(5), term: term(1), voters: ['a', 'b', 'c'] });
  await w.write(new Uint8Array(300).fill(7));
  await w.commit();
  return disk;
}

function config(i: number, t: number, m: Membership): Entry {
  return { index: index(i), term: term(t), kind: EntryKind.Config, data: encodeMembership(m) };
}

async function run(
  disk: SimulatedDisk,
  ...argv: string[]
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t) }, disk.fs());
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('wal inspect', () => {
  test('a healthy folder: segments, hard state, marker, log range and snapshots, exit 0', async () => {
    const { code, out } = await run(await fixture(), 'inspect', NODE);
    expect(code).toBe(EXIT.ok);
    expect(out).toContain('WAL in /data/node/wal');
    expect(out).toMatch(
      /0000000000000001-0000000000000001\.wal {2}\d+ bytes, \d+ records, entries 1\.\.\d+ \(terms 1\.\.1\), checksums ok/,
    );
    expect(out).toContain('hard state: term 2, vote "b", commit 12');
    expect(out).toContain('snapshot marker: index 5, term 1');
    expect(out).toContain('log: entries 6..14 (9), first term 1, last term 2');
    expect(out).toContain(
      'snap-0000000000000005-0000000000000001.snap  index 5, term 1, voters a,b,c, 300 data bytes, checksum ok',
    );
    expect(out).toContain('verdict: ok');
  });

  test('the whole configuration of each snapshot and every Config entry in the log, with its index', async () => {
    const disk = new SimulatedDisk();
    const fs = disk.fs();
    const joint: Membership = { voters: ['a', 'b', 'd'], outgoing: ['a', 'b', 'c'], learners: ['e'] };
    const simple: Membership = {
      voters: ['a', 'b', 'd'],
      outgoing: [],
      learners: ['e'],
      addresses: { a: '10.0.0.1:7101', b: '10.0.0.2:7101', d: '10.0.0.4:7101', e: '10.0.0.5:7101' },
    };
    const { wal } = await Wal.open({ dir: `${NODE}/wal`, fs });
    await wal.save({
      entries: [...entries(1, 3, 1), config(4, 1, joint), config(5, 1, simple), ...entries(6, 6, 1)],
      hardState: hardState(1, 'a', 4),
    });
    await wal.close();
    const snaps = await SnapshotStore.open({ dir: `${NODE}/snap`, fs });
    const w = snaps.create({
      index: index(4),
      term: term(1),
      voters: joint.voters,
      outgoing: joint.outgoing,
      learners: joint.learners,
      addresses: { a: '10.0.0.1:7101', c: '10.0.0.3:7101' },
    });
    await w.write(new Uint8Array(10));
    await w.commit();

    const { code, out } = await run(disk, 'inspect', NODE);
    expect(code).toBe(EXIT.ok);
    expect(out).toContain(
      [
        'configuration changes in the log: 2',
        '  index 4, term 1: voters a,b,d, outgoing a,b,c (joint), learners e',
        '  index 5, term 1 (uncommitted): voters a,b,d, learners e',
        '    addresses a=10.0.0.1:7101 b=10.0.0.2:7101 d=10.0.0.4:7101 e=10.0.0.5:7101',
      ].join('\n'),
    );
    expect(out).toContain(
      [
        'snap-0000000000000004-0000000000000001.snap  index 4, term 1, voters a,b,d, outgoing a,b,c (joint), ' +
          'learners e, 10 data bytes, checksum ok',
        '    addresses a=10.0.0.1:7101 c=10.0.0.3:7101',
      ].join('\n'),
    );
    expect(out).toContain('verdict: ok');
  });

  test('a log without Config entries lists no configuration changes', async () => {
    const { out } = await run(await fixture(), 'inspect', NODE);
    expect(out).not.toContain('configuration changes');
  });

  test('a Config entry that does not decode exits 1 naming its index', async () => {
    const disk = new SimulatedDisk();
    const { wal } = await Wal.open({ dir: `${NODE}/wal`, fs: disk.fs() });
    const bad: Entry = {
      index: index(2),
      term: term(1),
      kind: EntryKind.Config,
      data: new Uint8Array([1, 2]),
    };
    await wal.save({ entries: [...entries(1, 1, 1), bad], hardState: hardState(1, 'a', 2) });
    await wal.close();
    const { code, out } = await run(disk, 'inspect', NODE);
    expect(code).toBe(EXIT.corrupt);
    expect(out).toContain('  index 2, term 1: CORRUPT: the configuration does not decode');
    expect(out).toContain('verdict: CORRUPT');
  });

  test('a torn tail is reported and is not an error', async () => {
    const disk = await fixture();
    const names = disk.list(`${NODE}/wal`);
    const last = `${NODE}/wal/${names.at(-1)!}`;
    const bytes = disk.read(last)!;
    disk.write(last, bytes.subarray(0, bytes.length - 3));
    const { code, out } = await run(disk, 'inspect', NODE);
    expect(code).toBe(EXIT.ok);
    expect(out).toMatch(
      /torn tail: .*\.wal: \d+ bytes from byte offset \d+ \(a record of \d+ bytes runs past the end/,
    );
    expect(disk.read(last)!.length).toBe(bytes.length - 3);
  });

  test('corruption exits 1 naming the file and the offset', async () => {
    const disk = await fixture();
    const name = disk.list(`${NODE}/wal`)[0]!;
    const bytes = disk.read(`${NODE}/wal/${name}`)!;
    bytes[30]! ^= 1;
    disk.write(`${NODE}/wal/${name}`, bytes);
    const { code, out } = await run(disk, 'inspect', NODE);
    expect(code).toBe(EXIT.corrupt);
    expect(out).toMatch(new RegExp(`CORRUPT: WAL corruption in ${name} at byte offset \\d+`));
    expect(out).toContain('verdict: CORRUPT');
  });

  test('a damaged snapshot exits 1', async () => {
    const disk = await fixture();
    const dir = `${NODE}/snap`;
    const name = disk.list(dir)[0]!;
    const bytes = disk.read(`${dir}/${name}`)!;
    bytes[bytes.length - 1]! ^= 1;
    disk.write(`${dir}/${name}`, bytes);
    const { code, out } = await run(disk, 'inspect', NODE);
    expect(code).toBe(EXIT.corrupt);
    expect(out).toContain(`${name}  DAMAGED: data checksum mismatch`);
  });

  test('usage errors and a missing folder', async () => {
    const disk = await fixture();
    expect((await run(disk)).code).toBe(EXIT.usage);
    expect((await run(disk, 'inspect')).code).toBe(EXIT.usage);
    expect((await run(disk, 'inspect', '/nope')).code).toBe(EXIT.noInput);
    const help = await run(disk, '--help');
    expect(help.code).toBe(EXIT.ok);
    expect(help.out).toContain('Example:');
  });

  describe('as a process', () => {
    let dir = '';
    afterAll(async () => {
      if (dir !== '') await rm(dir, { recursive: true, force: true });
    });

    test('runs as `flotilla wal inspect DIR`', async () => {
      dir = await mkdtemp(join(tmpdir(), 'flotilla-inspect-'));
      const { wal } = await Wal.open({ dir });
      await wal.save({ entries: entries(1, 3, 1), hardState: hardState(1, 'a', 2) });
      await wal.close();
      const script = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
      const r = spawnSync(process.execPath, ['--import', 'tsx', script, 'wal', 'inspect', dir], {
        encoding: 'utf8',
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('log: entries 1..3 (3), first term 1, last term 1');
    });
  });
});
