// Public surface of kernel/: the kernel enforcement point (nftables in a namespace) and the kernel flow source.
export { KernelEnforcementPoint } from './point.js';
export type { KernelPointOptions, KernelStatus, KernelPointHooks } from './point.js';
export { KernelFlowSource } from './flow-source.js';
export type { KernelFlowStats, KernelFlowSourceOptions } from './flow-source.js';
export { nftApply, ensureReader, inNetns, READER_BINARY } from './nft.js';
