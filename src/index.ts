/**
 * hartvisor's library API: VMs whose vCPUs have a life cycle of their own, running RISC-V RV32 guests.
 * This file only re-exports.
 */
export { createVm, Vm, Vcpu, MAX_VCPUS_LIMIT, KERNEL_OFFSET } from './hv/vm.js';
export type { VmConfig, VmExit, VcpuInfo, HotplugStep } from './hv/vm.js';
export { HvError } from './hv/errors.js';
export type { HvErrorCode } from './hv/errors.js';
export { VcpuRegistry } from './hv/registry.js';
export { onSpin, growPleWindow, shrinkPleWindow, DEFAULT_SCHED } from './hv/scheduler.js';
export type { SchedConfig, DirectedYield } from './hv/scheduler.js';
export { parseHotplugList, parseHotplugJson, ScheduleError } from './hv/hotplug-schedule.js';
export { STAT_NAMES } from './host/layout.js';
export type { StatName } from './host/layout.js';
export type { TraceEvent } from './host/trace.js';
export { Hart, Exit } from './cpu/hart.js';
export type { Mmio, HartOptions } from './cpu/hart.js';
export { GuestMemory, RAM_BASE } from './cpu/memory.js';
export { parseElf } from './boot/elf.js';
export { loadImage } from './boot/image.js';
export { buildMachineDtb } from './boot/devicetree.js';
export { runBareMetal } from './host/bare.js';
