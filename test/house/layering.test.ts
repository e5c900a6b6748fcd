import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { expect, test } from 'vitest';

const SRC = new URL('../../src/', import.meta.url).pathname;

// DESIGN.md: arrows point one way — cli → server/client → node → raft, storage, transport, kv;
// raft imports nothing but itself; sim drives raft (and kv) without node's timers or sockets.
const ALLOWED: Record<string, readonly string[]> = {
  raft: [],
  storage: ['raft'],
  transport: ['raft'],
  kv: ['raft'],
  check: ['raft'],
  node: ['raft', 'storage'],
  server: ['raft', 'node', 'kv'],
  client: ['raft'],
  sim: ['raft', 'storage', 'kv', 'check'],
  cli: ['raft', 'storage', 'transport', 'kv', 'node', 'server', 'client', 'check', 'sim'],
};

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? files(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
  );
}

test("modules import only what DESIGN.md's arrows allow", () => {
  const wrong: string[] = [];
  for (const [module, allowed] of Object.entries(ALLOWED)) {
    for (const file of files(join(SRC, module))) {
      const source = readFileSync(file, 'utf8');
      for (const m of source.matchAll(/from '(\.[^']+)'/g)) {
        const target = relative(SRC, resolve(dirname(file), m[1]!)).split('/')[0]!;
        if (target !== module && !allowed.includes(target))
          wrong.push(`${file.slice(SRC.length)} imports ${target}/`);
      }
    }
  }
  expect(wrong).toEqual([]);
});
