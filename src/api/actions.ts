/**
 * The vocabulary between the HTTP layer and the controller (Firecracker's ParsedRequest → VmmAction → VmmData).
 *
 *   HTTP request ──router──▶ ApiRequest ──per-resource parser──▶ VmmAction ──ApiController──▶ VmmData
 *
 * Parsers only check and convert; they never touch the VM. The controller only executes; it never sees HTTP.
 * The CLI or a test can therefore build a VmmAction and hand it to the same controller.
 */
import type { DirectedYield } from '../hv/scheduler.js';

/** A request as the router hands it to a parser: path parameters, query string and JSON body. */
export interface ApiRequest {
  readonly method: string;
  /** The route's path template, e.g. `/vm/vcpus/{id}` (for messages). */
  readonly route: string;
  /** Values of the template's `{name}` segments (still strings: the parser converts them). */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The parsed JSON body, or undefined when the request had none (empty body). */
  readonly body: unknown;
}

/** A complete, validated VM configuration: every default already filled in (`PUT /vm`). */
export interface BootConfig {
  /** Path of the kernel image (ELF or flat), read by the server (relative paths: from its working directory). */
  readonly imagePath: string;
  readonly memoryMiB: number;
  /** Harts the guest may start at boot (recorded; must be <= maxVcpus). */
  readonly vcpus: number;
  /** Possible vCPU ids are 0..maxVcpus-1. */
  readonly maxVcpus: number;
  /** CPU slots the vCPUs share (fewer than maxVcpus is overcommit); absent: the VM's default (vm.ts). */
  readonly cpuSlots?: number;
  /** Kernel command line (device tree /chosen/bootargs). */
  readonly bootArgs: string;
  readonly executor: 'threads' | 'deterministic';
  readonly seed: number;
  readonly directedYield: DirectedYield;
  readonly onHartStop: 'destroy' | 'keep';
  readonly onUnsupported: 'stop' | 'report';
  /** Execution engine; absent: the default (the translator). */
  readonly engine?: 'jit' | 'interp';
}

/** Everything the API can ask of the VMM. */
export type VmmAction =
  /** PUT /vm: create and boot the VM (only when there is none, or the last one is shut down). */
  | { readonly kind: 'boot-vm'; readonly config: BootConfig }
  /** GET /vm. */
  | { readonly kind: 'describe-vm' }
  /** PATCH /vm: pause or resume every vCPU. */
  | { readonly kind: 'set-vm-state'; readonly state: 'paused' | 'running' }
  /** DELETE /vm: shut the VM down (every vCPU thread ends). */
  | { readonly kind: 'shutdown-vm' }
  /** PUT /vm/vcpus/{id}: hot-add; completes when the guest has started the hart. */
  | { readonly kind: 'add-vcpu'; readonly id: number; readonly timeoutMs: number }
  /** DELETE /vm/vcpus/{id}: hot-remove; graceful, or forced after the timeout. */
  | { readonly kind: 'remove-vcpu'; readonly id: number; readonly force: boolean; readonly timeoutMs: number }
  /** GET /vm/vcpus/{id}. */
  | { readonly kind: 'describe-vcpu'; readonly id: number }
  /** GET /metrics. */
  | { readonly kind: 'metrics' };

/** What an action returns: nothing (204), a JSON document (200) or a text document (200). */
export type VmmData =
  | { readonly kind: 'empty' }
  | { readonly kind: 'json'; readonly value: unknown }
  | { readonly kind: 'text'; readonly contentType: string; readonly text: string };

/** `GET /vm` before any `PUT /vm`. */
export interface VmNotConfigured {
  readonly state: 'not_configured';
}

/** One vCPU in `GET /vm`. */
export interface VcpuSummary {
  readonly id: number;
  /** SBI HSM state of the hart: started, stopped, start_pending, ... */
  readonly hsm: string;
  /** What its thread does: running, halted, preempted, stopped, none. */
  readonly run: string;
}

/** `GET /vm` once a VM exists. */
export interface VmDescription {
  readonly state: 'running' | 'paused' | 'shutdown';
  /** How the VM ended (null while it runs): reason shutdown, fatal, stalled or closed. */
  readonly exit: { readonly reason: string; readonly exit_code: number } | null;
  readonly max_vcpus: number;
  readonly cpu_slots: number;
  readonly online_vcpus: number;
  readonly vcpus: readonly VcpuSummary[];
}

/** `GET /vm/vcpus/{id}`: the summary plus the vCPU's counters (KVM binary-stats names). */
export interface VcpuDescription extends VcpuSummary {
  readonly stats: Readonly<Record<string, number>>;
}
