/**
 * Command-line parsing for the subcommands: `node:util` parseArgs in strict mode, with its errors turned into
 * one-line `UsageError`s, plus validators for the option values the commands share.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './errors.js';
import { MAX_MEMORY_MIB } from '../host/bare.js';
import { MAX_VCPUS_LIMIT } from '../hv/vm.js';

/** One option of a subcommand (the subset of parseArgs' config we use). */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
}
export type OptionSpecs = Record<string, OptionSpec>;

/** Parsed options: strings for string options, booleans for flags; absent when not given. */
export type ParsedOptions<T extends OptionSpecs> = {
  [K in keyof T]?: T[K]['type'] extends 'string' ? string : boolean;
};

/**
 * Parses `args` against `options` (plus -h/--help, added to every command).
 * @param command the subcommand name, for messages ("see 'hartvisor run --help'")
 * @throws UsageError for an unknown option, a missing value or a stray argument
 */
export function parseCommandLine<T extends OptionSpecs>(
  command: string,
  args: string[],
  options: T,
): { values: ParsedOptions<T> & { help?: boolean }; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    });
    return { values: values as ParsedOptions<T> & { help?: boolean }, positionals };
  } catch (err) {
    throw new UsageError(`${describeParseError(err)} (see 'hartvisor ${command} --help')`);
  }
}

function describeParseError(err: unknown): string {
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? '';
  const option = quoted.replace(/ <value>$/, '').replace(/^-\w, /, '');
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${option}'`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument '${quoted}'`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/argument missing/.test(message)) return `option '${option}' needs a value`;
      if (/ambiguous/.test(message)) return `option '${option}' needs a value (write ${option}=VALUE for a value that starts with '-')`;
      if (/does not take an argument/.test(message)) return `option '${option}' does not take a value`;
      return message.split('\n')[0];
    default:
      return message.split('\n')[0];
  }
}

/** Checks the positional arguments: exactly the named ones, in order. */
export function expectPositionals(command: string, positionals: string[], names: string[]): string[] {
  if (positionals.length < names.length) {
    throw new UsageError(`missing ${names[positionals.length]} (see 'hartvisor ${command} --help')`);
  }
  if (positionals.length > names.length) {
    throw new UsageError(`unexpected argument '${positionals[names.length]}' (see 'hartvisor ${command} --help')`);
  }
  return positionals;
}

/** `--memory MiB`: a whole number from 1 to MAX_MEMORY_MIB. */
export function parseMemoryMiB(value: string): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= MAX_MEMORY_MIB)) {
    throw new UsageError(`--memory: expected a whole number of MiB from 1 to ${MAX_MEMORY_MIB}, got '${value}'`);
  }
  return n;
}

/** Longest accepted --timeout, in seconds (about 11.5 days). */
const MAX_TIMEOUT_SEC = 1_000_000;

/** `--timeout SECONDS`: a positive decimal number (fractions allowed). */
export function parseTimeoutSec(value: string): number {
  const n = /^([0-9]+\.?[0-9]*|\.[0-9]+)$/.test(value) ? Number(value) : NaN;
  if (!(n > 0 && n <= MAX_TIMEOUT_SEC)) {
    throw new UsageError(`--timeout: expected a positive number of seconds up to ${MAX_TIMEOUT_SEC}, got '${value}'`);
  }
  return n;
}

/** Most vCPUs a VM can have. */
export const MAX_VCPUS = MAX_VCPUS_LIMIT;

/** `--vcpus N` / `--max-vcpus M`: a whole number from 1 to MAX_VCPUS. `option` names it in the message. */
export function parseVcpuCount(option: string, value: string): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= MAX_VCPUS)) {
    throw new UsageError(`${option}: expected a whole number of vCPUs from 1 to ${MAX_VCPUS}, got '${value}'`);
  }
  return n;
}

/** How the vCPUs of an S-mode guest are driven: one thread each, or all on one thread in seeded virtual time. */
export const EXECUTORS = ['threads', 'deterministic'] as const;
export type ExecutorName = (typeof EXECUTORS)[number];

/** One of a fixed set of words, else a usage error naming the option and the choices. */
function parseChoice<T extends string>(option: string, choices: readonly T[], value: string): T {
  const found = choices.find((c) => c === value);
  if (!found) throw new UsageError(`${option}: expected one of ${choices.join(', ')}, got '${value}'`);
  return found;
}

/** `--executor threads|deterministic`. */
export function parseExecutor(value: string): ExecutorName {
  return parseChoice('--executor', EXECUTORS, value);
}

/** Largest --seed: the deterministic scheduler's PRNG takes a 32-bit seed. */
const MAX_SEED = 0xffff_ffff;

/** `--seed N`: a whole number from 0 to 2^32-1. */
export function parseSeed(value: string): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 0 && n <= MAX_SEED)) throw new UsageError(`--seed: expected a whole number from 0 to ${MAX_SEED}, got '${value}'`);
  return n;
}

/** `--engine jit|interp`. */
export function parseEngine(value: string): 'jit' | 'interp' {
  if (value === 'jit' || value === 'interp') return value;
  throw new UsageError(`--engine: expected jit or interp, got '${value}'`);
}

/** What a guest kernel's unsupported instruction or SBI call does: stop the run, or report it and let the guest go on. */
export const UNSUPPORTED_POLICIES = ['stop', 'report'] as const;
export type UnsupportedPolicy = (typeof UNSUPPORTED_POLICIES)[number];

/** `--on-unsupported stop|report`. */
export function parseUnsupportedPolicy(value: string): UnsupportedPolicy {
  return parseChoice('--on-unsupported', UNSUPPORTED_POLICIES, value);
}

/** What HSM hart_stop does to a vCPU: 'destroy' frees it (and its thread), 'keep' parks it stopped. */
export const HART_STOP_POLICIES = ['destroy', 'keep'] as const;
export type HartStopPolicy = (typeof HART_STOP_POLICIES)[number];

/** `--on-hart-stop destroy|keep`. */
export function parseHartStopPolicy(value: string): HartStopPolicy {
  return parseChoice('--on-hart-stop', HART_STOP_POLICIES, value);
}

/** `--pcpus K`: CPU slots the vCPUs share, a whole number from 1 to MAX_VCPUS. */
export function parsePcpus(value: string): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= MAX_VCPUS)) throw new UsageError(`--pcpus: expected a whole number of CPU slots from 1 to ${MAX_VCPUS}, got '${value}'`);
  return n;
}

/** Directed yield policies on pause-loop exits (VmConfig.directedYield). */
export const DIRECTED_YIELD_POLICIES = ['off', 'on', 'pv'] as const;
export type DirectedYieldPolicy = (typeof DIRECTED_YIELD_POLICIES)[number];

/** `--directed-yield off|on|pv`. */
export function parseDirectedYield(value: string): DirectedYieldPolicy {
  return parseChoice('--directed-yield', DIRECTED_YIELD_POLICIES, value);
}

/** Largest PLE gap, window, grow or shrink value: KVM's window cap (ple_window_max). */
export const MAX_PLE_VALUE = 0x4000_0000;

/** `--ple-gap N`, `--ple-window N`, `--ple-grow N`, `--ple-shrink N`: a whole number from `min` to MAX_PLE_VALUE. */
export function parsePleValue(option: string, value: string, min: number): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= MAX_PLE_VALUE)) {
    throw new UsageError(`${option}: expected a whole number from ${min} to ${MAX_PLE_VALUE}, got '${value}'`);
  }
  return n;
}
