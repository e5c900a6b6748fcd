// The `flotilla` command line: usage errors exit 64 with one clear line (never a stack trace), and
// the client commands work against a running cluster.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { freePort } from '../integration/process-cluster.js';
import { settled, startLocalKv } from '../server/local-kv.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** Runs `main` in this process and captures what it prints. */
async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((t: unknown) => void out.push(String(t)));
  const error = vi.spyOn(console, 'error').mockImplementation((t: unknown) => void err.push(String(t)));
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe('usage errors', () => {
  test('`flotilla serve --id` with no value exits 64 with one line and a hint, no stack trace', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'serve', '--id'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status, result.stderr).toBe(64);
    expect(result.stderr).toMatch(/^flotilla serve: Option '--id <value>' argument missing/);
    expect(result.stderr).toMatch(/Run 'flotilla serve --help' for usage\./);
    expect(result.stderr).not.toMatch(/TypeError|\n\s+at /);
  });

  test('every command answers an unreadable command line the same way', async () => {
    for (const argv of [
      ['serve', '--no-such-flag'],
      ['cluster', '--nodes'],
      ['cluster', '--bogus'],
      ['put', 'k', 'v', '--bogus'],
      ['get', 'k', '--endpoints'],
      ['member', 'list', '--bogus'],
      ['status', '--bogus'],
    ]) {
      const r = await run(...argv);
      expect(r.code, argv.join(' ')).toBe(64);
      expect(r.err, argv.join(' ')).toMatch(
        new RegExp(`^flotilla ${argv[0]}: .+\\nRun 'flotilla ${argv[0]} --help'`),
      );
    }
  });

  test('a serve setting that is missing is a usage error too', async () => {
    const r = await run('serve', '--id', '1');
    expect(r.code).toBe(64);
    expect(r.err).toMatch(/^flotilla serve: --client-addr is required/);
  });

  test('`flotilla cluster --help` lists the serve options it passes on', async () => {
    const r = await run('cluster', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/--election-timeout-ms/);
    expect(r.out).toMatch(/--heartbeat-interval-ms/);
    expect(r.out).toMatch(/--sessions-max/);
  });

  test('`flotilla status` exits 1 when no endpoint answers', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await run('status', '--endpoints', dead);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/"error"/);
    expect(r.err).toMatch(/no endpoint answered/);
  });
});

describe('client commands against a cluster', () => {
  let cluster: Awaited<ReturnType<typeof startLocalKv>>;
  let endpoints = '';

  beforeAll(async () => {
    cluster = await startLocalKv();
    await settled(cluster);
    endpoints = cluster.nodes.map((n) => n.url).join(',');
  });

  afterAll(async () => {
    await cluster.stop();
  });

  test('put, get, del and status', async () => {
    const put = await run('put', 'greeting', 'hello', '--endpoints', endpoints);
    expect(put.code, put.err).toBe(0);
    expect(JSON.parse(put.out)).toMatchObject({ revision: expect.any(Number) });
    const get = await run('get', 'greeting', '--endpoints', endpoints);
    expect(get.code, get.err).toBe(0);
    expect(JSON.parse(get.out)).toMatchObject({ key: 'greeting', value: 'hello' });
    expect((await run('del', 'greeting', '--endpoints', endpoints)).code).toBe(0);
    const missing = await run('get', 'greeting', '--endpoints', endpoints);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/does not exist/);
    const status = await run('status', '--endpoints', `${endpoints},http://127.0.0.1:${await freePort()}`);
    expect(status.code).toBe(0); // some endpoints answered
  });
});
