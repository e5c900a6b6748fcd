export { ensureDir } from './ensure-dir.js';
export { type FileLayer, type FileStat, hasErrorCode, type OpenFile, type OpenFlags } from './file-layer.js';
export { NodeFileLayer } from './node-file-layer.js';
export { CrashError, SimulatedDisk, type TornMode } from './simulated-disk.js';
