/** Flotilla's public entry point: the pure Raft core and its storage. */
export * from './raft/index.js';
export { MemoryStorage } from './storage/memory-storage.js';
