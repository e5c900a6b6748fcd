import { ConfChangeError, FlotillaError } from '../raft/errors.js';
import type { ConfChangeTarget, Membership } from '../raft/membership.js';
import { EntryKind, type NodeId } from '../raft/types.js';
import type { Cluster } from './cluster.js';
import type { Prng } from './prng.js';

/** The configuration changes the nemesis asks for (thesis §4.3), and leadership transfer (§3.10). */
export type ChangeKind =
  | 'add-learner'
  | 'promote'
  | 'add-voter'
  | 'remove-voter'
  | 'remove-leader'
  | 'replace'
  | 'demote'
  | 'remove-learner'
  | 'transfer';

const KINDS: readonly ChangeKind[] = [
  'add-learner',
  'promote',
  'add-voter',
  'remove-voter',
  'remove-leader',
  'replace',
  'demote',
  'remove-learner',
  'transfer',
];

/** How often each kind is drawn, among those that make sense for the configuration at hand. */
const WEIGHTS: Readonly<Record<ChangeKind, number>> = {
  'add-learner': 3,
  promote: 3,
  'add-voter': 2,
  'remove-voter': 3,
  'remove-leader': 1,
  replace: 2,
  demote: 1,
  'remove-learner': 1,
  transfer: 3,
};

/** What the membership nemesis did in one run. */
export interface MembershipCounts {
  /** Changes the leader accepted (a Config entry appended), by kind; `transfer` counts transfers begun. */
  readonly proposed: Record<ChangeKind, number>;
  /** Of the accepted changes, those whose entry is in the committed log at the end of the run. */
  readonly committed: Record<ChangeKind, number>;
  /** Refusals by error code (ERR_CONF_CHANGE_IN_PROGRESS, ERR_TRANSFER_IN_PROGRESS, …). */
  readonly refused: Record<string, number>;
  /** Times the nemesis asked nothing: no leader known, or a learner too far behind to promote. */
  readonly skipped: Record<string, number>;
  /** Transfers whose target led the next term that had a leader. */
  readonly transfersCompleted: number;
  /** Config entries in the committed log, the leaders' own C(new) entries included. */
  readonly configEntriesCommitted: number;
}

export interface MembershipNemesisOptions {
  /** A learner is promoted only while its match index is within this many entries of the leader's log. */
  readonly promoteLagMax: number;
}

function zeroCounts(): Record<ChangeKind, number> {
  return Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<ChangeKind, number>;
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/**
 * Asks whichever node the simulator sees leading (it may be deposed without knowing it) for a
 * random configuration change or leadership transfer, drawn from its own PRNG stream. Refusals
 * are expected (a change in flight, a new leader, a transfer under way) and only counted. Keeps at
 * least one voter; learners are promoted only once nearly caught up, as the leader's progress
 * (RawNode.status()) tells. Nodes keep their disks across removal and re-adding (a node id is
 * never reused for a fresh disk), so a removed node may come back as a learner or a voter.
 */
export class MembershipNemesis {
  private readonly proposed = zeroCounts();
  private readonly refused: Record<string, number> = {};
  private readonly skipped: Record<string, number> = {};
  /** Accepted changes: the Config entry each appended, to find at the end in the committed log. */
  private readonly accepted: { kind: ChangeKind; index: number; term: number }[] = [];
  /** Transfers begun: target and the term they were asked in. */
  private readonly transfers: { to: NodeId; term: number }[] = [];

  constructor(
    private readonly c: Cluster,
    private readonly rng: Prng,
    private readonly slots: readonly NodeId[],
    private readonly opts: MembershipNemesisOptions,
  ) {}

  /** Asks for one change now; returns a line for the run's fault schedule. */
  step(): string {
    const lead = this.c.leader();
    if (lead === undefined) {
      bump(this.skipped, 'no leader');
      return 'membership: no leader to ask';
    }
    const raw = this.c.node(lead).raw!;
    const m = raw.membership();
    const kinds = KINDS.filter((k) => this.feasible(k, m, lead));
    if (kinds.length === 0) {
      bump(this.skipped, 'nothing to change');
      return 'membership: nothing to change';
    }
    const kind = this.pickWeighted(kinds);
    if (kind === 'transfer') return this.transfer(lead, m);
    const target = this.target(kind, m, lead);
    if ('skipped' in target) {
      bump(this.skipped, target.skipped);
      return `membership: ${kind} skipped (${target.skipped}: ${target.detail})`;
    }
    const term = raw.raft.term;
    const what = `${kind} at ${lead} t${term}: voters [${target.voters.join(',')}] learners [${target.learners.join(',')}]`;
    try {
      const at = this.c.proposeConfChange(lead, target);
      bump(this.proposed, kind);
      this.accepted.push({ kind, index: at, term });
      return `membership: ${what} → entry ${at}`;
    } catch (err) {
      if (!(err instanceof FlotillaError)) throw err;
      bump(this.refused, err.code);
      if (err instanceof ConfChangeError && err.code === 'ERR_BAD_CONF_CHANGE') {
        // The nemesis only asks for valid configurations: this refusal is the core's mistake.
        throw new Error(`the leader refused a valid change (${what}): ${err.message}`);
      }
      return `membership: ${what} refused (${err.code})`;
    }
  }

  /** The run's counts; call once the run has converged (the committed log is final). */
  counts(): MembershipCounts {
    const log = this.c.checker.committed;
    const committed = zeroCounts();
    for (const a of this.accepted) if (log[a.index - 1]?.term === a.term) bump(committed, a.kind);
    let completed = 0;
    for (const t of this.transfers) if (this.c.checker.nextLeaderAfter(t.term)?.id === t.to) completed++;
    return {
      proposed: { ...this.proposed },
      committed,
      refused: { ...this.refused },
      skipped: { ...this.skipped },
      transfersCompleted: completed,
      configEntriesCommitted: log.filter((e) => e.kind === EntryKind.Config).length,
    };
  }

  /** Slots outside every part of `m`: they may join. */
  private spare(m: Membership): NodeId[] {
    return this.slots.filter(
      (id) => !m.voters.includes(id) && !m.outgoing.includes(id) && !m.learners.includes(id),
    );
  }

  private feasible(kind: ChangeKind, m: Membership, lead: NodeId): boolean {
    const spare = this.spare(m).length > 0;
    switch (kind) {
      case 'add-learner':
      case 'add-voter':
        return spare;
      case 'promote':
      case 'remove-learner':
        return m.learners.length > 0;
      case 'remove-voter':
      case 'demote':
        return m.voters.length > 1;
      case 'remove-leader':
        return m.voters.length > 1 && m.voters.includes(lead);
      case 'replace':
        return spare || m.learners.length > 0;
      case 'transfer':
        return m.voters.some((id) => id !== lead);
    }
  }

  /** The configuration `kind` asks for, or why the nemesis asks nothing after all. */
  private target(
    kind: Exclude<ChangeKind, 'transfer'>,
    m: Membership,
    lead: NodeId,
  ): ConfChangeTarget | { readonly skipped: string; readonly detail: string } {
    const voters = m.voters;
    const learners = m.learners;
    const spare = this.spare(m);
    const without = (ids: readonly NodeId[], id: NodeId) => ids.filter((x) => x !== id);
    switch (kind) {
      case 'add-learner':
        return { voters, learners: [...learners, this.rng.pick(spare)] };
      case 'add-voter':
        return { voters: [...voters, this.rng.pick(spare)], learners };
      case 'promote': {
        const x = this.rng.pick(learners);
        const lag = this.lag(lead, x);
        if (lag > this.opts.promoteLagMax)
          return { skipped: 'learner behind', detail: `${x} lags ${lag} entries` };
        return { voters: [...voters, x], learners: without(learners, x) };
      }
      case 'remove-learner':
        return { voters, learners: without(learners, this.rng.pick(learners)) };
      case 'remove-voter':
        return { voters: without(voters, this.rng.pick(voters)), learners };
      case 'remove-leader':
        return { voters: without(voters, lead), learners };
      case 'demote': {
        const y = this.rng.pick(voters);
        return { voters: without(voters, y), learners: [...learners, y] };
      }
      case 'replace': {
        // One joint change: a voter out, a spare node or a learner in.
        const y = this.rng.pick(voters);
        const x = this.rng.pick([...spare, ...learners]);
        return { voters: [...without(voters, y), x], learners: without(learners, x) };
      }
    }
  }

  /** How many entries `id` lacks of the leader's log, by the leader's progress (RawNode.status()). */
  private lag(lead: NodeId, id: NodeId): number {
    const status = this.c.node(lead).raw!.status();
    const pr = status.progress[id];
    return pr === undefined ? Number.POSITIVE_INFINITY : status.lastIndex - pr.match;
  }

  private transfer(lead: NodeId, m: Membership): string {
    const term = this.c.node(lead).raw!.raft.term;
    const to = this.rng.pick(m.voters.filter((id) => id !== lead));
    const what = `transfer ${lead}→${to} t${term}`;
    try {
      this.c.transferLeadership(lead, to);
      bump(this.proposed, 'transfer');
      this.transfers.push({ to, term });
      return `membership: ${what}`;
    } catch (err) {
      if (!(err instanceof FlotillaError)) throw err;
      bump(this.refused, err.code);
      return `membership: ${what} refused (${err.code})`;
    }
  }

  private pickWeighted(kinds: readonly ChangeKind[]): ChangeKind {
    let total = 0;
    for (const k of kinds) total += WEIGHTS[k];
    let roll = this.rng.nextFloat() * total;
    for (const k of kinds) {
      roll -= WEIGHTS[k];
      if (roll < 0) return k;
    }
    return kinds[kinds.length - 1]!;
  }
}

/** Adds up the counts of many runs. */
export function sumMembershipCounts(all: readonly MembershipCounts[]): MembershipCounts {
  const proposed = zeroCounts();
  const committed = zeroCounts();
  const refused: Record<string, number> = {};
  const skipped: Record<string, number> = {};
  let transfersCompleted = 0;
  let configEntriesCommitted = 0;
  for (const m of all) {
    for (const k of KINDS) {
      proposed[k] += m.proposed[k];
      committed[k] += m.committed[k];
    }
    for (const [code, n] of Object.entries(m.refused)) refused[code] = (refused[code] ?? 0) + n;
    for (const [why, n] of Object.entries(m.skipped)) skipped[why] = (skipped[why] ?? 0) + n;
    transfersCompleted += m.transfersCompleted;
    configEntriesCommitted += m.configEntriesCommitted;
  }
  return { proposed, committed, refused, skipped, transfersCompleted, configEntriesCommitted };
}

const total = (r: Readonly<Record<string, number>>): number => Object.values(r).reduce((a, b) => a + b, 0);

const listed = (r: Readonly<Record<string, number>>): string =>
  Object.entries(r)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');

/**
 * One line: changes proposed/committed/refused, and transfers, e.g. `membership: 9 changes
 * proposed, 7 committed, 4 refused, 1 skipped; transfers 3 asked, 2 completed`.
 */
export function describeMembershipCounts(m: MembershipCounts): string {
  const { transfer: transfers, ...changes } = m.proposed;
  const { transfer: _, ...committed } = m.committed;
  return (
    `membership: ${total(changes)} changes proposed, ${total(committed)} committed ` +
    `(${m.configEntriesCommitted} Config entries committed in all), ${total(m.refused)} refused, ` +
    `${total(m.skipped)} skipped; transfers ${transfers} asked, ${m.transfersCompleted} completed`
  );
}

/** A few lines of detail: each kind proposed and committed, refusals by code, skips by reason. */
export function describeMembershipDetail(m: MembershipCounts): string {
  const kinds = KINDS.filter((k) => k !== 'transfer')
    .map((k) => `${k} ${m.committed[k]}/${m.proposed[k]}`)
    .join(', ');
  return (
    `  changes committed/proposed by kind: ${kinds}\n` +
    `  refused: ${listed(m.refused) || 'none'}; skipped: ${listed(m.skipped) || 'none'}`
  );
}
