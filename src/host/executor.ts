/**
 * The contract between a VM (hv/vm.ts) and what runs its vCPUs. Two implementations: `ThreadedExecutor`
 * (one worker thread per vCPU, the default) and `DeterministicExecutor` (every vCPU on the owner thread,
 * interleaved by a seeded scheduler in virtual time).
 */
export type ExecutorEvent =
  /** A guest asked (HSM hart_start) for vCPU `id` to start; the VM creates it if absent. */
  | { kind: 'start-request'; id: number }
  /** vCPU `id` executed HSM hart_stop and no longer runs guest code. */
  | { kind: 'stopped'; id: number }
  /** SRST or a fatal error: the VM is shutting down. */
  | { kind: 'shutdown' }
  /** A guest did something unsupported; the message names it. */
  | { kind: 'warn'; message: string }
  /** An executor thread failed (never a guest's doing): the VM must stop. */
  | { kind: 'error'; message: string };

export interface Executor {
  readonly kind: 'threads' | 'deterministic';
  /** Starts running vCPU `id` (its slot is initialised and occupied). */
  addVcpu(id: number): void | Promise<void>;
  /**
   * Ends vCPU `id`: resolves once it runs no more and its thread (if any) is gone. `byGuest`: the guest stopped the
   * hart itself (HSM hart_stop without a host request); the threaded executor then keeps fewer spare threads.
   */
  removeVcpu(id: number, byGuest?: boolean): Promise<void>;
  /**
   * Gives vCPU `id`'s thread the hypervisor's OS priority: it has host work to act on. For about a time slice, or
   * with `held` true until `boost(id, false)` (which lets it lapse after a time slice).
   */
  boost?(id: number, held?: boolean): void;
  /** Wakes vCPU `id` (new IRQ/REQ bits or a start). */
  wake(id: number): void;
  /** Number of live executor threads (for leak checks). */
  threadCount(): number;
  /** Stops everything and releases threads. */
  close(): Promise<void>;
}

export type ExecutorListener = (ev: ExecutorEvent) => void;
