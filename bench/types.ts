/**
 * The shapes shared by the benchmark harness (`main.ts`) and its groups.
 *
 * A benchmark group (bare-metal guests, and later vCPU life-cycle latency, Linux boot, directed yield...) is a
 * name plus a `run` that returns rows. A row carries named metrics; the harness lays them out as a plain table
 * (one per group, one column per metric key) or as JSON, and fails the whole run when any row is not ok.
 */

/** One measured figure. `value` is null when it could not be measured (e.g. QEMU absent). */
export interface Metric {
  /** Column header in the table, e.g. "hartvisor MIPS". */
  label: string;
  /** Unit for JSON readers, e.g. "s", "MIPS", "instructions", "x". */
  unit: string;
  value: number | null;
  /** Digits after the decimal point in the table. */
  decimals: number;
}

/** One line of a group's result. */
export interface Row {
  name: string;
  /** False when the thing measured did not do what it should (guest exit code non-zero, timeout, crash...). */
  ok: boolean;
  /** Why the row is not ok, one line each (empty when ok). Remarks that are not failures go to `ctx.note`. */
  errors: string[];
  /** Insertion order is the column order. */
  metrics: Record<string, Metric>;
}

/** What the harness hands to a group. */
export interface BenchContext {
  /** Wall-clock limit for one run of one thing, in seconds. */
  timeoutSec: number;
  /** How many times to run each measurement; the best (fastest) is kept. */
  repeat: number;
  /** Path of qemu-system-riscv32, or null when absent or disabled with --no-qemu. */
  qemu: string | null;
  /** Directory of the prebuilt guest images (guests/images). */
  imagesDir: string;
  /** Whether the row `name` of this group was selected (`--only group/row` selects single rows). */
  wants(row: string): boolean;
  /** Progress, to stderr (never stdout, which belongs to the table or the JSON document). */
  log(line: string): void;
  /** A remark printed under the group's table and kept in the JSON (e.g. QEMU's start-up cost). */
  note(line: string): void;
}

/** A benchmark group: add one to `GROUPS` in main.ts. */
export interface BenchGroup {
  /** Short name for `--only`, lower-case, no spaces or slashes. */
  name: string;
  /** One line shown above its table and by `--list`. */
  title: string;
  /** The row names it can produce, when known in advance: lets `--only group/row` be checked before anything runs. */
  rows?: readonly string[];
  run(ctx: BenchContext): Promise<Row[]>;
}

/** Shorthand for a metric. */
export function metric(label: string, unit: string, value: number | null, decimals = 2): Metric {
  return { label, unit, value: value !== null && Number.isFinite(value) ? value : null, decimals };
}
