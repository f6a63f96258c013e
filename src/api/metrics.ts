/**
 * `GET /metrics`: the Prometheus text exposition format (version 0.0.4). Every family has `# HELP` and `# TYPE`
 * lines, then its samples; families are always present (with no samples when there is no vCPU), so a scraper
 * sees the same set of names whatever the VM does.
 *
 * Per-vCPU counters are the VM's statistics (KVM binary-stats names, host/layout.ts STAT_NAMES) with a `vcpu`
 * label. A vCPU that is destroyed and created again starts its counters from 0: a counter reset, which
 * Prometheus handles. The hotplug counters add up every VM this server has run, so they never go back.
 */
import type { VcpuInfo } from '../hv/vm.js';
import { STAT_NAMES, type StatName } from '../host/layout.js';

/** The Content-Type of the exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** What the metrics are computed from (ApiController.metricsSnapshot). */
export interface MetricsSnapshot {
  readonly state: 'not_configured' | 'running' | 'paused' | 'shutdown';
  readonly maxVcpus: number;
  readonly onlineVcpus: number;
  readonly threads: number;
  readonly hotplug: { readonly add: number; readonly remove: number; readonly forced: number };
  /** The vCPUs present, by id. */
  readonly vcpus: readonly VcpuInfo[];
}

/** The VM states, each a sample of `hartvisor_vm_state` (1 for the current one, 0 for the others). */
const VM_STATES = ['not_configured', 'running', 'paused', 'shutdown'] as const;

/** Exit reasons of `hartvisor_vcpu_exits_total`, and the statistic each comes from. */
const EXIT_REASONS: readonly (readonly [reason: string, stat: StatName])[] = [
  ['ecall', 'exits_ecall'], ['wfi', 'exits_wfi'], ['pause', 'exits_pause'], ['budget', 'exits_budget'],
];

/** Per-vCPU counters with a metric of their own: statistic → help text (metric: hartvisor_vcpu_<stat>_total). */
const VCPU_COUNTERS: Readonly<Partial<Record<StatName, string>>> = {
  pause_loop_exits: 'Pause-loop exits (a spinning vCPU detected by its pause instructions).',
  directed_yield_attempted: 'Directed yields tried on a pause-loop exit or a paravirtual YIELD_TO.',
  directed_yield_successful: 'Directed yields that gave the CPU slot to another vCPU.',
  halt_wakeup: 'Wake-ups from a halt (WFI or HSM suspend).',
  preempted: 'Times the vCPU lost its CPU slot at the end of its time slice.',
  instructions: 'Guest instructions retired, when the executor counts them.',
  sbi_calls: 'SBI calls (ecall from S-mode).',
  ipi_sent: 'Inter-processor interrupts sent by this vCPU.',
};

/** Statistics not exported as metrics of their own: the total of exits (the labelled reasons cover it). */
const COVERED: ReadonlySet<string> = new Set<string>(['exits', ...EXIT_REASONS.map(([, s]) => s)]);

/** A sample value in the exposition format (Go float syntax for the special values). */
function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** Label values are escaped as the format requires (backslash, double quote, newline). */
function labels(pairs: Record<string, string | number>): string {
  const body = Object.entries(pairs)
    .map(([k, v]) => `${k}="${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
  return body ? `{${body}}` : '';
}

/** Builds the exposition text, one family at a time. */
class Exposition {
  private readonly lines: string[] = [];
  family(name: string, type: 'counter' | 'gauge', help: string, samples: readonly (readonly [Record<string, string | number>, number])[]): void {
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
    for (const [l, v] of samples) this.lines.push(`${name}${labels(l)} ${num(v)}`);
  }
  text(): string { return this.lines.join('\n') + '\n'; }
}

/** Renders the metrics of a snapshot. */
export function renderMetrics(s: MetricsSnapshot): string {
  const x = new Exposition();
  x.family('hartvisor_vm_state', 'gauge', 'The VM\'s state: 1 for the current state, 0 for the others.',
    VM_STATES.map((st) => [{ state: st }, st === s.state ? 1 : 0] as const));
  x.family('hartvisor_vm_max_vcpus', 'gauge', 'Possible vCPUs of the VM (0 without a VM).', [[{}, s.maxVcpus]]);
  x.family('hartvisor_vm_online_vcpus', 'gauge', 'vCPUs present in the VM (0 without a VM).', [[{}, s.onlineVcpus]]);
  x.family('hartvisor_vm_threads', 'gauge', 'Executor threads of the VM alive (vCPU threads and warm spares).', [[{}, s.threads]]);
  x.family('hartvisor_hotplug_events_total', 'counter',
    'Hotplug requests: add and remove events posted to the guest, and removals forced after the guest did not stop the hart in time.',
    (['add', 'remove', 'forced'] as const).map((op) => [{ op }, s.hotplug[op]] as const));

  const vcpus = [...s.vcpus].sort((a, b) => a.id - b.id);
  x.family('hartvisor_vcpu_state', 'gauge', 'What each vCPU\'s thread does (running, halted, preempted, stopped, none): 1 for its current state.',
    vcpus.map((v) => [{ vcpu: v.id, state: v.run }, 1] as const));
  x.family('hartvisor_vcpu_hsm_state', 'gauge', 'SBI HSM state of each vCPU\'s hart (started, stopped, start_pending, ...): 1 for its current state.',
    vcpus.map((v) => [{ vcpu: v.id, state: v.hsm }, 1] as const));
  x.family('hartvisor_vcpu_exits_total', 'counter', 'Exits from the guest to the vCPU loop, by reason.',
    vcpus.flatMap((v) => EXIT_REASONS.map(([reason, stat]) => [{ vcpu: v.id, reason }, v.stats[stat] ?? 0] as const)));
  for (const stat of STAT_NAMES) {
    if (COVERED.has(stat)) continue;
    const help = VCPU_COUNTERS[stat] ?? `The vCPU statistic ${stat}.`;
    x.family(`hartvisor_vcpu_${stat}_total`, 'counter', help, vcpus.map((v) => [{ vcpu: v.id }, v.stats[stat] ?? 0] as const));
  }
  return x.text();
}
