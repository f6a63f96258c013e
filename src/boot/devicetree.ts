/**
 * hartvisor's machine device tree: what an S-mode guest is told about the virtual machine.
 *
 * Modelled on the tree QEMU 7.2's `virt` machine hands a guest, cut down to what hartvisor emulates:
 * CPUs (one node per *possible* vCPU), RAM, the chosen node and one ns16550a UART. There is no PLIC and
 * no CLINT: guests use SBI for timers and IPIs (as KVM guests do), so nothing here is an interrupt
 * source yet and the UART node has no `interrupts` property (Linux then polls the port).
 */
import { Fdt, u64Cells } from './fdt.js';

/** Default `/cpus/timebase-frequency`: 10 MHz, as on QEMU virt. */
export const DEFAULT_TIMEBASE_FREQUENCY = 10_000_000;
/**
 * Default `riscv,isa`. This is byte for byte what QEMU 7.2 writes for an rv32 CPU without F, D, H, B or Sstc
 * (`-cpu rv32,f=false,d=false,h=false,zba=false,zbb=false,zbc=false,zbs=false,sstc=false`). Linux 6.1 and
 * kvm-unit-tests both parse `_`-separated multi-letter extensions, and Linux 6.1 only acts on the ones it
 * knows (here Zihintpause, which makes `cpu_relax()` use PAUSE, a FENCE hint), so this form is safe. The
 * older "rv32imacsu" style is avoided: 's' and 'u' are not single-letter extensions and Linux only
 * tolerates them through a QEMU workaround.
 */
export const DEFAULT_ISA = 'rv32imac_zicsr_zifencei_zihintpause';
/** Default UART base address, as on QEMU virt. */
export const DEFAULT_UART_BASE = 0x10000000;
/** Size of the UART's register window in the device tree (its 8 registers, spaced by 1 byte, sit at the start). */
export const UART_WINDOW_SIZE = 0x100;
/** Input clock of the 16550A, as QEMU virt declares it (1.8432 MHz × 2). */
export const UART_CLOCK_FREQUENCY = 3_686_400;
/** Most vCPUs the tree can describe. */
export const MAX_POSSIBLE_VCPUS = 1024;

/** Parameters of the machine device tree. */
export interface MachineDtConfig {
  /** Guest-physical base of RAM, e.g. 0x80000000. */
  memBase: number;
  /** RAM size in bytes. */
  memSize: number;
  /** One `/cpus/cpu@N` node per possible vCPU, N = 0..possibleVcpus-1 (1..1024). Hart id N = reg N. */
  possibleVcpus: number;
  /** Kernel command line, `/chosen/bootargs`. */
  bootargs: string;
  /** `/cpus/timebase-frequency` in Hz; default {@link DEFAULT_TIMEBASE_FREQUENCY}. */
  timebaseFrequency?: number;
  /** `riscv,isa` of every CPU; default {@link DEFAULT_ISA}. */
  isa?: string;
  /** Guest-physical base of the UART; default {@link DEFAULT_UART_BASE}. */
  uartBase?: number;
  /** FDT header `boot_cpuid_phys` (the hart that boots first); default 0. Must be a possible vCPU. */
  bootHartId?: number;
}

function checkInt(v: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${what} must be an integer in [${min}, ${max}], got ${v}`);
}

/**
 * Builds the machine tree as an {@link Fdt}, for callers that want to add nodes (say a PLIC) before
 * serialising. Phandles 1..possibleVcpus go to the CPUs' interrupt controllers, in CPU order.
 */
export function buildMachineTree(cfg: MachineDtConfig): Fdt {
  const timebase = cfg.timebaseFrequency ?? DEFAULT_TIMEBASE_FREQUENCY;
  const isa = cfg.isa ?? DEFAULT_ISA;
  const uartBase = cfg.uartBase ?? DEFAULT_UART_BASE;
  const bootHart = cfg.bootHartId ?? 0;
  checkInt(cfg.possibleVcpus, 1, MAX_POSSIBLE_VCPUS, 'possibleVcpus');
  checkInt(cfg.memBase, 0, Number.MAX_SAFE_INTEGER, 'memBase');
  checkInt(cfg.memSize, 1, Number.MAX_SAFE_INTEGER, 'memSize');
  checkInt(timebase, 1, 0xffffffff, 'timebaseFrequency');
  checkInt(uartBase, 0, Number.MAX_SAFE_INTEGER, 'uartBase');
  checkInt(bootHart, 0, cfg.possibleVcpus - 1, 'bootHartId');
  if (!/^rv32[a-z]/i.test(isa)) throw new RangeError(`isa must start with "rv32" and an extension letter, got '${isa}'`);

  const fdt = new Fdt();
  fdt.bootCpuidPhys = bootHart;
  const root = fdt.root;
  root.setU32('#address-cells', 2).setU32('#size-cells', 2);
  root.setStrings('compatible', ['hartvisor,virt', 'riscv-virtio']);
  root.setString('model', 'hartvisor,virt');

  const uartPath = `/soc/serial@${uartBase.toString(16)}`;
  root.addNode('chosen').setString('bootargs', cfg.bootargs).setString('stdout-path', uartPath);

  root
    .addNode(`memory@${cfg.memBase.toString(16)}`)
    .setString('device_type', 'memory')
    .setCells('reg', [...u64Cells(cfg.memBase), ...u64Cells(cfg.memSize)]);

  const cpus = root.addNode('cpus');
  cpus.setU32('#address-cells', 1).setU32('#size-cells', 0).setU32('timebase-frequency', timebase);
  for (let hart = 0; hart < cfg.possibleVcpus; hart++) {
    const cpu = cpus.addNode(`cpu@${hart.toString(16)}`);
    cpu.setString('device_type', 'cpu').setU32('reg', hart).setString('status', 'okay');
    cpu.setString('compatible', 'riscv').setString('riscv,isa', isa).setString('mmu-type', 'riscv,sv32');
    const intc = cpu.addNode('interrupt-controller');
    // '#address-cells = <0>' is not in QEMU 7.2's tree; it marks the controller as having no address space,
    // which silences dtc's interrupt_provider warning and matches newer bindings. Linux 6.1 ignores it here.
    intc.setU32('#address-cells', 0).setU32('#interrupt-cells', 1).setEmpty('interrupt-controller');
    intc.setString('compatible', 'riscv,cpu-intc');
    fdt.allocPhandle(intc);
  }

  const soc = root.addNode('soc');
  soc.setU32('#address-cells', 2).setU32('#size-cells', 2);
  soc.setString('compatible', 'simple-bus').setEmpty('ranges');
  soc
    .addNode(`serial@${uartBase.toString(16)}`)
    .setString('compatible', 'ns16550a')
    .setCells('reg', [...u64Cells(uartBase), 0, UART_WINDOW_SIZE])
    .setU32('clock-frequency', UART_CLOCK_FREQUENCY)
    .setU32('reg-shift', 0)
    .setU32('reg-io-width', 1);

  return fdt;
}

/** Builds and serialises hartvisor's machine device tree (see {@link buildMachineTree}). */
export function buildMachineDtb(cfg: MachineDtConfig): Uint8Array {
  return buildMachineTree(cfg).toDtb();
}

