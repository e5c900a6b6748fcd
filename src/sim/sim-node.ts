import type { RaftConfig } from '../raft/config.js';
import { RawNode, type Ready } from '../raft/raw-node.js';
import { type Entry, type Index, type NodeId, Role } from '../raft/types.js';
import { MemoryStorage } from '../storage/memory-storage.js';

/**
 * One simulated server: a core, its "disk" (a MemoryStorage that survives crashes) and its
 * volatile state machine (the entries it applied, lost on a crash and rebuilt from the log).
 */
export class SimNode {
  readonly storage = new MemoryStorage();
  raw: RawNode | undefined;
  /** Bumped on every crash: events scheduled for an older incarnation are void. */
  epoch = 0;
  /** A Ready whose persistence is in progress on the simulated disk. */
  inFlight: Ready | undefined;
  /** applied[i - 1] is the entry applied at index i. */
  applied: Entry[] = [];
  appliedChecked = 0;
  // What the invariant checker saw at its last look at this node.
  shadow: Entry[] = [];
  shadowRole: Role = Role.Follower;
  shadowTerm = 0;
  shadowEpoch = 0;
  /** Entries 1..verified of this node's log are known to equal the cluster's committed prefix. */
  verified = 0;

  constructor(
    readonly id: NodeId,
    private readonly makeConfig: (storage: MemoryStorage, epoch: number) => RaftConfig,
  ) {}

  get up(): boolean {
    return this.raw !== undefined;
  }

  start(): void {
    this.applied = [];
    this.appliedChecked = 0;
    this.raw = new RawNode(this.makeConfig(this.storage, this.epoch));
  }

  /** Loses everything not on the disk: the core, the in-flight write, the state machine. */
  crash(): void {
    this.raw = undefined;
    this.inFlight = undefined;
    this.applied = [];
    this.appliedChecked = 0;
    this.epoch++;
  }

  /** The entry at `i` in the core's log (persisted or not), without copying. */
  entryAt(i: number): Entry | undefined {
    const raw = this.raw;
    if (raw === undefined) return this.storage.allEntries()[i - 1];
    const persisted = raw.raft.log.persistedIndex();
    if (i > persisted) return raw.raft.log.unstableEntries()[i - persisted - 1];
    return this.storage.allEntries()[i - 1];
  }

  lastIndex(): number {
    return this.raw === undefined ? this.storage.lastIndex() : this.raw.raft.log.lastIndex();
  }

  /** Writes a Ready's entries and hard state to the disk (the simulated fdatasync completed). */
  persist(rd: Ready): void {
    this.storage.append(rd.entries);
    if (rd.hardState !== undefined) this.storage.setHardState(rd.hardState);
  }

  terms(): number[] {
    const out: number[] = [];
    const last = this.lastIndex();
    for (let i = 1; i <= last; i++) out.push(this.entryAt(i)!.term);
    return out;
  }

  commit(): Index {
    return this.raw === undefined ? this.storage.hardState().commit : this.raw.raft.log.commit;
  }
}
