/**
 * The shared pieces of a VM that every executor thread attaches to: RAM, control words, registry slots,
 * statistics, console rings and device state. `MachineShared` is created once by the owner; `attachMachine`
 * rebuilds the views on any thread (a worker gets the SharedArrayBuffers through workerData).
 */
import { Mmio } from '../cpu/hart.js';
import { GuestMemory } from '../cpu/memory.js';
import { wasmInterpreterModule } from '../cpu/interp-wasm.js';
import { ByteRing } from '../devices/console.js';
import { Uart16550 } from '../devices/uart16550.js';
import { allocCtl, allocSlots, allocStats } from './layout.js';
import { allocHotplugQueue } from './hotplug-queue.js';
import { allocCpuSlots } from './cpu-slots.js';
import { allocTraceRing } from './trace.js';

export const UART_BASE = 0x10000000;
export const UART_SIZE = 0x100;
/** Guest timebase: 10 MHz, as QEMU virt. */
export const TIMEBASE_HZ = 10_000_000;

export interface MachineBuffers {
  /** Guest RAM (GuestMemory.allocate: with hart slots after RAM when a WebAssembly memory), and its size. */
  ram: SharedArrayBuffer | WebAssembly.Memory;
  ramBytes: number;
  /** The interpreter in WebAssembly, compiled once for every thread (interp-wasm.ts), or null without a
   *  WebAssembly memory. */
  interp: WebAssembly.Module | null;
  ctl: SharedArrayBuffer;
  slots: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  consoleOut: SharedArrayBuffer;
  consoleIn: SharedArrayBuffer;
  uart: unknown;
  /** Hotplug events for the guest (hotplug-queue.ts). */
  hotplug: SharedArrayBuffer;
  /** CPU slot owners (cpu-slots.ts). */
  cpus: SharedArrayBuffer;
  /** Trace event ring (trace.ts), or null when the VM is not traced. */
  trace: SharedArrayBuffer | null;
  /** Wall-clock origin of guest time (ms since the epoch, fractional), for threaded executors. */
  timeOriginMs: number;
}

export function createMachineBuffers(memBytes: number, maxVcpus: number, pcpus = maxVcpus, trace = false): MachineBuffers {
  const out = ByteRing.create(1 << 16);
  const inp = ByteRing.create(1 << 12);
  const uart = Uart16550.create(out, inp);
  const ram = GuestMemory.allocate(memBytes);
  return {
    ram,
    ramBytes: memBytes,
    interp: ram instanceof WebAssembly.Memory ? wasmInterpreterModule() : null,
    ctl: allocCtl(),
    slots: allocSlots(maxVcpus),
    stats: allocStats(maxVcpus),
    consoleOut: out.sab,
    consoleIn: inp.sab,
    uart: uart.sharedState(),
    hotplug: allocHotplugQueue(),
    cpus: allocCpuSlots(pcpus),
    trace: trace ? allocTraceRing() : null,
    timeOriginMs: performance.timeOrigin + performance.now(),
  };
}

/** Views of the shared machine for one thread. */
export class MachineView {
  readonly mem: GuestMemory;
  readonly out: ByteRing;
  readonly in: ByteRing;
  readonly uart: Uart16550;
  readonly mmio: Mmio;

  constructor(readonly buffers: MachineBuffers) {
    this.mem = new GuestMemory(buffers.ramBytes, buffers.ram);
    this.out = ByteRing.attach(buffers.consoleOut);
    this.in = ByteRing.attach(buffers.consoleIn);
    this.uart = Uart16550.attach(buffers.uart as Parameters<typeof Uart16550.attach>[0]);
    const uart = this.uart;
    this.mmio = {
      read(pa: number, size: number): number | undefined {
        const o = pa - UART_BASE;
        if (o >= 0 && o < UART_SIZE) return size === 1 ? uart.read(o) : uart.read(o);
        return undefined;
      },
      write(pa: number, size: number, value: number): boolean {
        const o = pa - UART_BASE;
        if (o >= 0 && o < UART_SIZE) { uart.write(o, value & 0xff); void size; return true; }
        return false;
      },
    };
  }

  /** The console port a vCPU uses for SBI console calls (same rings as the UART). */
  consolePort(): { write(b: Uint8Array): void; read(max: number): Uint8Array } {
    const out = this.out, uart = this.uart;
    return {
      write: (b) => { out.push(b); },
      read: (max) => uart.takeInput(max),
    };
  }
}

/** Guest time in ticks from the wall clock (threaded executor). */
export function wallTicks(timeOriginMs: number): number {
  return Math.floor((performance.timeOrigin + performance.now() - timeOriginMs) * (TIMEBASE_HZ / 1000));
}
