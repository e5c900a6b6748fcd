import { parseArgs } from 'node:util';
import { FlotillaClient, type ReadConsistency } from '../client/client.js';

const ENDPOINTS_DEFAULT = 'http://127.0.0.1:7001,http://127.0.0.1:7002,http://127.0.0.1:7003';

export const CLIENT_HELP: Record<string, string> = {
  put: `usage: flotilla put KEY VALUE [--if-match REV | --if-absent] [--endpoints URLS]

Sets KEY to VALUE through the cluster's leader.
example: flotilla put greeting hello --endpoints http://127.0.0.1:7001`,
  get: `usage: flotilla get KEY [--consistency linearizable|lease|stale] [--endpoints URLS]

Prints the key as JSON, or exits 1 when it does not exist.
example: flotilla get greeting`,
  del: `usage: flotilla del KEY [--if-match REV] [--endpoints URLS]

Deletes KEY.
example: flotilla del greeting`,
  ls: `usage: flotilla ls [PREFIX] [--limit N] [--consistency ...] [--endpoints URLS]

Lists keys starting with PREFIX.
example: flotilla ls user/ --limit 20`,
  leader: `usage: flotilla leader transfer [--to ID] [--endpoints URLS]

Hands leadership to member ID (default: the most up-to-date other voter) and prints the new leader.
example: flotilla leader transfer --to 2`,
  member: `usage: flotilla member list
       flotilla member add ID PEER_ADDR          (a voter at once)
       flotilla member add-learner ID PEER_ADDR  (a non-voting member; promote it once caught up)
       flotilla member promote ID
       flotilla member update ID PEER_ADDR       (the member moved: peers dial PEER_ADDR)
       flotilla member remove ID
       [--endpoints URLS]

Lists or changes the cluster's members. A change answers once it has committed; a change of voters
goes through the joint configuration C(old,new) first. Refused: a second change while one is in
flight, promoting a learner that is still behind, a change after which the reachable voters would
not be a majority, unknown ids. The new node itself is started with: flotilla serve --join URL.
example: flotilla member add-learner 4 127.0.0.1:7104 && flotilla member promote 4`,
  status: `usage: flotilla status [--endpoints URLS]

Prints each endpoint's /v1/status; exits 1 when none answers.
example: flotilla status --endpoints http://127.0.0.1:7001,http://127.0.0.1:7002`,
};

/** put/get/del/ls/status: thin wrappers over FlotillaClient. Returns the exit code. */
export async function runClientCommand(command: string, argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      endpoints: { type: 'string', default: process.env.FLOTILLA_ENDPOINTS ?? ENDPOINTS_DEFAULT },
      'if-match': { type: 'string' },
      'if-absent': { type: 'boolean' },
      consistency: { type: 'string' },
      limit: { type: 'string' },
      to: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(CLIENT_HELP[command]);
    return 0;
  }
  const endpoints = values.endpoints.split(',').map((e) => (e.startsWith('http') ? e : `http://${e}`));
  const client = new FlotillaClient({ endpoints });
  const consistency = values.consistency as ReadConsistency | undefined;
  if (consistency !== undefined && !['linearizable', 'lease', 'stale'].includes(consistency)) {
    return usage(command, `--consistency must be linearizable, lease or stale, not ${consistency}`);
  }
  const ifMatch = values['if-match'] === undefined ? undefined : Number(values['if-match']);
  if (ifMatch !== undefined && !Number.isSafeInteger(ifMatch))
    return usage(command, '--if-match takes a revision number');
  switch (command) {
    case 'put': {
      const [key, value] = positionals;
      if (key === undefined || value === undefined) return usage(command, 'put needs KEY and VALUE');
      print(
        await client.put(key, value, {
          ...(ifMatch === undefined ? {} : { ifModRevision: ifMatch }),
          ifAbsent: values['if-absent'] ?? false,
        }),
      );
      return 0;
    }
    case 'get': {
      const [key] = positionals;
      if (key === undefined) return usage(command, 'get needs KEY');
      const kv = await client.get(key, consistency === undefined ? {} : { consistency });
      if (kv === undefined) {
        console.error(`key ${JSON.stringify(key)} does not exist`);
        return 1;
      }
      print(kv);
      return 0;
    }
    case 'del': {
      const [key] = positionals;
      if (key === undefined) return usage(command, 'del needs KEY');
      print(await client.delete(key, ifMatch === undefined ? {} : { ifModRevision: ifMatch }));
      return 0;
    }
    case 'ls': {
      const limit = Number(values.limit ?? 100);
      print(
        await client.range(positionals[0] ?? '', {
          limit,
          ...(consistency === undefined ? {} : { consistency }),
        }),
      );
      return 0;
    }
    case 'leader': {
      if (positionals[0] !== 'transfer') return usage(command, 'the only leader subcommand is: transfer');
      const to = values.to === undefined ? undefined : Number(values.to);
      if (to !== undefined && !Number.isSafeInteger(to)) return usage(command, '--to takes a member id');
      print({ leader: await client.transferLeadership(to) });
      return 0;
    }
    case 'member':
      return member(client, positionals);
    case 'status': {
      let answered = 0;
      for (const e of endpoints) {
        try {
          print({ endpoint: e, ...(await client.status(e)) });
          answered++;
        } catch (err) {
          print({ endpoint: e, error: (err as Error).message });
        }
      }
      if (answered === 0) console.error(`no endpoint answered (${endpoints.join(', ')})`);
      return answered === 0 ? 1 : 0;
    }
    default:
      return usage(command, `unknown command ${command}`);
  }
}

async function member(client: FlotillaClient, args: readonly string[]): Promise<number> {
  const [sub, rawId, peerAddr] = args;
  const id = Number(rawId);
  const needId = () => rawId === undefined || !Number.isSafeInteger(id) || id < 1;
  switch (sub) {
    case 'list':
      print(await client.members());
      return 0;
    case 'add':
    case 'add-learner':
      if (needId() || peerAddr === undefined) return usage('member', `member ${sub} needs ID and PEER_ADDR`);
      print(await client.addMember({ id, peerAddr, learner: sub === 'add-learner' }));
      return 0;
    case 'promote':
      if (needId()) return usage('member', 'member promote needs ID');
      print(await client.promoteMember(id));
      return 0;
    case 'update':
      if (needId() || peerAddr === undefined) return usage('member', 'member update needs ID and PEER_ADDR');
      print(await client.updateMember(id, peerAddr));
      return 0;
    case 'remove':
      if (needId()) return usage('member', 'member remove needs ID');
      print(await client.removeMember(id));
      return 0;
    default:
      return usage(
        'member',
        `member subcommands: list, add, add-learner, promote, update, remove (not ${sub ?? 'nothing'})`,
      );
  }
}

function print(v: unknown): void {
  console.log(JSON.stringify(v, null, 2));
}

function usage(command: string, problem: string): number {
  console.error(`${problem}\n\n${CLIENT_HELP[command] ?? ''}`);
  return 64;
}
