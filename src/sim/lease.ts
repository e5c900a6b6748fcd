// The simulator keeps leases exactly as RaftNode does: the same formula and bookkeeping.
export { LeaseClock, leaseDurationMs } from '../raft/lease.js';
