// ebpf-redirect's TypeScript side: the capture modes behind one interface and the per-pod kernel state helpers.
export {
  DEFAULT_SOCKMAP,
  EBPF_BUILD_DIR,
  ebpfCapture,
  ebpfMissing,
  ensureBpffs,
  ensurePodCgroups,
  inCgroup,
  leftoverPods,
  nftablesCapture,
  podCgroupDirs,
  releaseSharedKernelState,
  removePodKernelState,
} from './capture.js';
export type { CaptureMode, CaptureModeOptions, CapturePod, CaptureRoots } from './capture.js';
