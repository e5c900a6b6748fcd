// `flotilla serve` settings: flags over the environment over a --config file, and clear refusals.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseServeConfig, SERVE_HELP, ServeConfigError } from '../../src/cli/serve-config.js';
import { KvStore } from '../../src/kv/kv-store.js';
import { SESSIONS_MAX_CEILING, SESSIONS_MAX_DEFAULT } from '../../src/kv/types.js';

const BASE = [
  '--id',
  '2',
  '--data-dir',
  'data/2',
  '--client-addr',
  '127.0.0.1:7002',
  '--peer-addr',
  '0.0.0.0:7102',
];
const CLUSTER = ['--initial-cluster', '1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103'];

function parse(argv: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const cfg = parseServeConfig(argv, env);
  if (cfg === 'help') throw new Error('unexpected help');
  return cfg;
}

function refusal(argv: readonly string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parseServeConfig(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ServeConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('flotilla serve settings', () => {
  test('a member of a new cluster: defaults, and the advertised peer address is --peer-addr', () => {
    const cfg = parse([...BASE, ...CLUSTER]);
    expect(cfg).toMatchObject({
      id: '2',
      clusterId: 'flotilla',
      peerHost: '0.0.0.0',
      peerPort: 7102,
      advertisePeerAddr: '0.0.0.0:7102',
      join: [],
      joinAsLearner: false,
      electionTimeoutMs: 1000,
      heartbeatIntervalMs: 100,
      sessionsMax: SESSIONS_MAX_DEFAULT,
    });
    expect([...cfg.initialCluster.keys()]).toEqual(['1', '2', '3']);
  });

  test('--advertise-peer-addr is what a joining node announces; it listens on --peer-addr', () => {
    const cfg = parse([...BASE, '--join', 'http://10.0.0.1:7001/', '--advertise-peer-addr', '[::1]:9102']);
    expect(cfg.advertisePeerAddr).toBe('[::1]:9102');
    expect(cfg.join).toEqual(['http://10.0.0.1:7001']);
    expect(cfg.initialCluster.size).toBe(0);
  });

  test('refusals name the setting and what is wrong', () => {
    expect(refusal(BASE)).toMatch(/--initial-cluster is required \(or --join/);
    expect(refusal([...BASE, ...CLUSTER, '--join', 'http://h:1'])).toMatch(/not both/);
    expect(refusal([...BASE, '--join', 'h:1'])).toMatch(/--join takes client URLs/);
    expect(refusal([...BASE, ...CLUSTER, '--advertise-peer-addr', 'nope'])).toMatch(
      /--advertise-peer-addr must be HOST:PORT/,
    );
    expect(refusal([...BASE, '--initial-cluster', '1=h:1,3=h:3'])).toMatch(/must list this node's id 2/);
    expect(refusal([...BASE, ...CLUSTER, '--election-timeout-ms', '150'])).toMatch(/at least twice/);
  });

  test('flags win over FLOTILLA_* variables, which win over a --config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-cfg-'));
    try {
      const file = join(dir, 'node.json');
      writeFileSync(
        file,
        JSON.stringify({
          'election-timeout-ms': 3000,
          'heartbeat-interval-ms': 300,
          'cluster-id': 'from-file',
        }),
      );
      const cfg = parse([...BASE, ...CLUSTER, '--config', file, '--election-timeout-ms', '2000'], {
        FLOTILLA_HEARTBEAT_INTERVAL_MS: '200',
      });
      expect(cfg.electionTimeoutMs).toBe(2000); // flag
      expect(cfg.heartbeatIntervalMs).toBe(200); // environment
      expect(cfg.clusterId).toBe('from-file'); // file
      writeFileSync(file, JSON.stringify({ 'no-such-setting': 1 }));
      expect(refusal([...BASE, ...CLUSTER, '--config', file])).toMatch(/unknown setting "no-such-setting"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--sessions-max comes from the flag, FLOTILLA_SESSIONS_MAX or the file, and is bounded', () => {
    expect(parse([...BASE, ...CLUSTER, '--sessions-max', '5000']).sessionsMax).toBe(5000);
    expect(parse([...BASE, ...CLUSTER], { FLOTILLA_SESSIONS_MAX: '70000' }).sessionsMax).toBe(70000);
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-cfg-'));
    try {
      const file = join(dir, 'node.json');
      writeFileSync(file, JSON.stringify({ 'sessions-max': 123456 }));
      expect(parse([...BASE, ...CLUSTER, '--config', file]).sessionsMax).toBe(123456);
      expect(
        parse([...BASE, ...CLUSTER, '--config', file, '--sessions-max', '9'], { FLOTILLA_SESSIONS_MAX: '8' })
          .sessionsMax,
      ).toBe(9);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(refusal([...BASE, ...CLUSTER, '--sessions-max', '0'])).toMatch(
      /--sessions-max must be an integer/,
    );
    expect(refusal([...BASE, ...CLUSTER, '--sessions-max', 'many'])).toMatch(/--sessions-max/);
    expect(refusal([...BASE, ...CLUSTER, '--sessions-max', String(SESSIONS_MAX_CEILING + 1)])).toMatch(
      new RegExp(`from 1 to ${SESSIONS_MAX_CEILING}`),
    );
    expect(SERVE_HELP).toMatch(/--sessions-max N/);
  });

  test('every accepted --sessions-max is one the KV store accepts', () => {
    for (const n of [1, SESSIONS_MAX_DEFAULT, SESSIONS_MAX_CEILING]) {
      const cfg = parse([...BASE, ...CLUSTER, '--sessions-max', String(n)]);
      expect(new KvStore({ sessionsMax: cfg.sessionsMax }).sessionLimits.sessionsMax).toBe(n);
    }
  });
});
