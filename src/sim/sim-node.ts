import type { RaftConfig } from '../raft/config.js';
import { snapshotMetaOf } from '../raft/membership.js';
import { RawNode, type Ready } from '../raft/raw-node.js';
import { type Entry, type Index, index, type NodeId, Role, type SnapshotMeta } from '../raft/types.js';
import { MemoryStorage } from '../storage/memory-storage.js';
import { SimKv } from './sim-kv.js';

/**
 * One simulated server: a core, its "disk" (a MemoryStorage that survives crashes), its volatile
 * state machine (the entries it applied and the key-value map they build, lost on a crash and
 * rebuilt from the snapshot and the log) and its own clock.
 */
export class SimNode {
  readonly storage = new MemoryStorage();
  raw: RawNode | undefined;
  /** Bumped on every crash: events scheduled for an older incarnation are void. */
  epoch = 0;
  /** A Ready whose persistence is in progress on the simulated disk. */
  inFlight: Ready | undefined;
  /**
   * The state machine: applied[i - 1] is the entry applied at index i. Keeping the entries
   * themselves lets the checker verify a restored snapshot entry by entry.
   */
  applied: Entry[] = [];
  /** The key-value store the applied entries build (client `put` commands). */
  readonly kv = new SimKv();
  /** The durable snapshot: the state machine as it was at `snapshot.index` (survives crashes). */
  snapshotData: readonly Entry[] = [];
  /** A snapshot that arrived from the leader and awaits its Ready. */
  incoming: { meta: SnapshotMeta; data: readonly Entry[] } | undefined;
  appliedChecked = 0;
  // What the invariant checker saw at its last look at this node.
  shadow: Entry[] = [];
  shadowRole: Role = Role.Follower;
  shadowTerm = 0;
  shadowEpoch = 0;
  shadowCommit = 0;
  /** Entries 1..verified of this node's log are known to equal the cluster's committed prefix. */
  verified = 0;

  /** How far this node's clock rate is off: its clock advances (1 + drift) ms per virtual ms. */
  private rateError: number;
  // The clock read clockBase at virtual time clockSince, when the rate last changed.
  private clockBase = 0;
  private clockSince = 0;

  /**
   * @param drift the clock's rate error, a property of the hardware: it survives restarts.
   */
  constructor(
    readonly id: NodeId,
    private readonly makeConfig: (storage: MemoryStorage, epoch: number) => RaftConfig,
    drift = 0,
  ) {
    this.rateError = drift;
  }

  get drift(): number {
    return this.rateError;
  }

  /** This node's monotonic clock at virtual time `now` (ms). */
  clock(now: number): number {
    return this.clockBase + (now - this.clockSince) * (1 + this.rateError);
  }

  /** From `now` on, the clock runs at rate 1 + `drift`; it stays continuous (and monotonic). */
  setDrift(now: number, drift: number): void {
    this.clockBase = this.clock(now);
    this.clockSince = now;
    this.rateError = drift;
  }

  /** Virtual ms between two ticks: a node ticks every `tickMs` of its OWN clock. */
  tickInterval(tickMs: number): number {
    return this.rateError === 0 ? tickMs : tickMs / (1 + this.rateError);
  }

  get up(): boolean {
    return this.raw !== undefined;
  }

  start(): void {
    // The state machine restarts from the snapshot; the core replays the committed entries after it.
    this.applied = this.snapshotData.slice();
    this.kv.reset(this.applied);
    this.appliedChecked = 0;
    this.incoming = undefined;
    this.raw = new RawNode({
      ...this.makeConfig(this.storage, this.epoch),
      applied: index(this.applied.length),
    });
  }

  /** Loses everything not on the disk: the core, the in-flight write, the state machine. */
  crash(): void {
    this.raw = undefined;
    this.inFlight = undefined;
    this.incoming = undefined;
    this.applied = [];
    this.kv.reset([]);
    this.appliedChecked = 0;
    this.epoch++;
  }

  /** The first index the core's log holds (everything before is in a snapshot). */
  firstIndex(): number {
    return this.raw === undefined ? this.storage.firstIndex() : this.raw.raft.log.firstIndex();
  }

  /** The entry at `i` in the core's log (persisted or not), without copying; undefined if compacted. */
  entryAt(i: number): Entry | undefined {
    const raw = this.raw;
    if (raw !== undefined) {
      const persisted = raw.raft.log.persistedIndex();
      if (i > persisted) return raw.raft.log.unstableEntries()[i - persisted - 1];
      if (i < raw.raft.log.firstIndex()) return undefined;
    }
    const first = this.storage.firstIndex();
    return i < first ? undefined : this.storage.allEntries()[i - first];
  }

  /** The term at `i`, including the snapshot boundary. */
  termAt(i: number): number {
    if (i === 0) return 0;
    const e = this.entryAt(i);
    if (e !== undefined) return e.term;
    return this.raw === undefined ? this.storage.term(index(i)) : this.raw.raft.log.term(index(i));
  }

  lastIndex(): number {
    return this.raw === undefined ? this.storage.lastIndex() : this.raw.raft.log.lastIndex();
  }

  /** Writes a Ready's entries and hard state to the disk (the simulated fdatasync completed). */
  persist(rd: Ready): void {
    if (rd.snapshot !== undefined) {
      const got = this.incoming;
      if (got === undefined || got.meta.index !== rd.snapshot.index) {
        throw new Error(`sim: ${this.id} must install snapshot ${rd.snapshot.index} but holds none`);
      }
      this.storage.applySnapshot(rd.snapshot);
      this.snapshotData = got.data;
      this.applied = got.data.slice();
      this.kv.reset(this.applied);
      this.appliedChecked = 0;
      this.incoming = undefined;
    }
    this.storage.append(rd.entries);
    if (rd.hardState !== undefined) this.storage.setHardState(rd.hardState);
  }

  /** Applies one committed entry to the state machine. */
  apply(e: Entry): void {
    this.applied.push(e);
    this.kv.apply(e);
  }

  /** Entry terms from index 1; compacted entries are shown by the state machine's copy. */
  terms(): number[] {
    const out: number[] = [];
    const last = this.lastIndex();
    for (let i = 1; i <= last; i++) out.push(this.entryAt(i)?.term ?? this.applied[i - 1]?.term ?? 0);
    return out;
  }

  /**
   * Takes a snapshot of the state machine at its applied index, carrying the configuration in force
   * there (a follower that installs it learns the configuration from it), and compacts the log
   * behind it. Returns false, taking none, when the node cannot tell that configuration: it joined
   * with no voters and holds no Config entry at or below the index (see docs/invariants.md).
   */
  takeSnapshot(retainEntries: number): boolean {
    const at = this.applied.length;
    const last = this.applied[at - 1];
    if (last === undefined || this.raw === undefined) return false;
    const m = this.raw.membershipAt(last.index);
    if (m.voters.length === 0) return false;
    this.snapshotData = this.applied.slice();
    this.storage.setSnapshot(snapshotMetaOf(last.index, last.term, m));
    this.storage.compact(index(Math.max(0, Math.min(at - retainEntries, this.storage.lastIndex()))));
    return true;
  }

  commit(): Index {
    return this.raw === undefined ? this.storage.hardState().commit : this.raw.raft.log.commit;
  }
}
