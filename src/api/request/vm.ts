/**
 * Parsers of the `/vm` resource: PUT (configure and boot), GET, PATCH (pause/resume), DELETE (shut down).
 * Each turns an ApiRequest into a VmmAction or throws a 400; none touches the VM.
 */
import { MAX_MEMORY_MIB } from '../../host/bare.js';
import { DEFAULT_SCHED } from '../../hv/scheduler.js';
import { MAX_VCPUS_LIMIT } from '../../hv/vm.js';
import type { ApiRequest, BootConfig, VmmAction } from '../actions.js';
import { badRequest } from '../errors.js';
import { noBody, noQuery, parseObject, type ObjectSchema } from '../schema.js';

/** Guest RAM when `memory_mib` is not given (the library's default). */
export const DEFAULT_MEMORY_MIB = 128;
/** Longest accepted image path and kernel command line, in characters. */
export const MAX_PATH_CHARS = 4096;
export const MAX_BOOT_ARGS_CHARS = 4096;

/** The body of `PUT /vm`. Defaults are the library's (hv/vm.ts); `max_vcpus` defaults to `vcpus`. */
export const VM_CONFIG_SCHEMA = {
  properties: {
    image: {
      type: 'string', minLength: 1, maxLength: MAX_PATH_CHARS,
      description: 'Path of the kernel image (ELF32 RISC-V or flat binary) on the server host; relative paths start from the server\'s working directory.',
    },
    memory_mib: { type: 'integer', minimum: 1, maximum: MAX_MEMORY_MIB, description: `Guest RAM in MiB (default ${DEFAULT_MEMORY_MIB}).` },
    vcpus: { type: 'integer', minimum: 1, maximum: MAX_VCPUS_LIMIT, description: 'Harts the guest may start at boot (default 1); at most max_vcpus.' },
    max_vcpus: { type: 'integer', minimum: 1, maximum: MAX_VCPUS_LIMIT, description: 'Possible vCPUs: ids 0..max_vcpus-1 (default: vcpus).' },
    cpu_slots: { type: 'integer', minimum: 1, maximum: MAX_VCPUS_LIMIT, description: 'CPU slots the vCPUs share, at most max_vcpus (default: threads, one per host CPU and at most max_vcpus; deterministic, max_vcpus). Fewer is overcommit.' },
    boot_args: { type: 'string', maxLength: MAX_BOOT_ARGS_CHARS, description: 'Kernel command line (device tree /chosen/bootargs; default empty).' },
    executor: { type: 'string', enum: ['threads', 'deterministic'], description: 'threads: one worker thread per vCPU (default); deterministic: every vCPU on one thread in seeded virtual time.' },
    seed: { type: 'integer', minimum: 0, maximum: 0xffff_ffff, description: 'Scheduler seed of the deterministic executor (default 1).' },
    directed_yield: { type: 'string', enum: ['off', 'on', 'pv'], description: `Directed yield on pause-loop exits (default ${DEFAULT_SCHED.directedYield}); pv also serves the guest's YIELD_TO.` },
    on_hart_stop: { type: 'string', enum: ['destroy', 'keep'], description: 'What SBI HSM hart_stop does to a vCPU: destroy it (default) or keep it, stopped.' },
    on_unsupported: { type: 'string', enum: ['stop', 'report'], description: 'A guest kernel instruction or SBI call hartvisor lacks: stop the VM as a guest fault (default), or report it and let the guest handle it.' },
    engine: { type: 'string', enum: ['jit', 'interp'], description: 'Execution engine: jit (block translator, default) or interp (the reference interpreter).' },
  },
  required: ['image'],
} as const satisfies ObjectSchema;

/** The body of `PATCH /vm`. */
export const VM_STATE_SCHEMA = {
  properties: {
    state: { type: 'string', enum: ['paused', 'running'], description: 'paused: every vCPU stops at the end of its slice; running: they go on.' },
  },
  required: ['state'],
} as const satisfies ObjectSchema;

/** `PUT /vm`: fills in the defaults and checks the fields against each other. */
export function parsePutVm(req: ApiRequest): VmmAction {
  const what = 'PUT /vm body';
  noQuery(req.query, 'PUT /vm');
  const v = parseObject(req.body, VM_CONFIG_SCHEMA, what);
  const vcpus = v.vcpus ?? 1;
  const maxVcpus = v.max_vcpus ?? vcpus;
  if (vcpus > maxVcpus) throw badRequest(`${what}: 'vcpus' (${vcpus}) is more than 'max_vcpus' (${maxVcpus})`);
  const cpuSlots = v.cpu_slots;
  if (cpuSlots !== undefined && cpuSlots > maxVcpus) throw badRequest(`${what}: 'cpu_slots' (${cpuSlots}) is more than 'max_vcpus' (${maxVcpus})`);
  const config: BootConfig = {
    imagePath: v.image!,
    memoryMiB: v.memory_mib ?? DEFAULT_MEMORY_MIB,
    vcpus,
    maxVcpus,
    ...(cpuSlots !== undefined ? { cpuSlots } : {}),
    bootArgs: v.boot_args ?? '',
    executor: v.executor ?? 'threads',
    seed: v.seed ?? 1,
    directedYield: v.directed_yield ?? DEFAULT_SCHED.directedYield,
    onHartStop: v.on_hart_stop ?? 'destroy',
    onUnsupported: v.on_unsupported ?? 'stop',
    ...(v.engine ? { engine: v.engine } : {}),
  };
  return { kind: 'boot-vm', config };
}

/** `GET /vm`. */
export function parseGetVm(req: ApiRequest): VmmAction {
  noQuery(req.query, 'GET /vm');
  noBody(req.body, 'GET /vm');
  return { kind: 'describe-vm' };
}

/** `PATCH /vm`: `{"state": "paused" | "running"}`. */
export function parsePatchVm(req: ApiRequest): VmmAction {
  noQuery(req.query, 'PATCH /vm');
  const v = parseObject(req.body, VM_STATE_SCHEMA, 'PATCH /vm body');
  return { kind: 'set-vm-state', state: v.state! };
}

/** `DELETE /vm`. */
export function parseDeleteVm(req: ApiRequest): VmmAction {
  noQuery(req.query, 'DELETE /vm');
  noBody(req.body, 'DELETE /vm');
  return { kind: 'shutdown-vm' };
}
