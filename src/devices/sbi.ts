/**
 * The SBI implementation the guest sees (SBI spec 2.0): base, TIME, IPI, RFENCE, HSM, SRST, DBCN and the
 * legacy console/timer/IPI calls. It decodes the call and validates every guest-supplied argument; anything
 * that changes the machine (start a hart, send an IPI, shut down) is a request to the `SbiHost` the hypervisor
 * implements, so this module never calls up into hv (STYLE 6.1).
 */
export const SbiError = {
  SUCCESS: 0, FAILED: -1, NOT_SUPPORTED: -2, INVALID_PARAM: -3, DENIED: -4, INVALID_ADDRESS: -5,
  ALREADY_AVAILABLE: -6, ALREADY_STARTED: -7, ALREADY_STOPPED: -8, NO_SHMEM: -9, INVALID_STATE: -10,
  BAD_RANGE: -11, TIMEOUT: -12, IO: -13,
} as const;

export const SbiExt = {
  BASE: 0x10, TIME: 0x54494d45, IPI: 0x735049, RFENCE: 0x52464e43, HSM: 0x48534d, SRST: 0x53525354,
  DBCN: 0x4442434e,
  LEGACY_SET_TIMER: 0x00, LEGACY_PUTCHAR: 0x01, LEGACY_GETCHAR: 0x02, LEGACY_CLEAR_IPI: 0x03,
  LEGACY_SEND_IPI: 0x04, LEGACY_REMOTE_FENCE_I: 0x05, LEGACY_REMOTE_SFENCE_VMA: 0x06,
  LEGACY_REMOTE_SFENCE_VMA_ASID: 0x07, LEGACY_SHUTDOWN: 0x08,
  /** hartvisor's vendor extension (docs/sbi-hartvisor-extension.md): vendor range 0x09000000-0x09FFFFFF, "HVT". */
  HARTVISOR: 0x09485654,
} as const;

export const SBI_SPEC_VERSION = (2 << 24) | 0;
/** Implementation id: not one of the registered ones (0..10); a value of our own. */
export const SBI_IMPL_ID = 0x4856;
export const SBI_IMPL_VERSION = 1;

export const HSM_SUSPEND_RETENTIVE = 0x00000000;
export const HSM_SUSPEND_NON_RETENTIVE = 0x80000000;

/** What the hypervisor provides to the SBI layer for one calling hart. */
export interface SbiHost {
  readonly hartId: number;
  /** Number of possible hart ids (ids are 0..maxHarts-1). */
  readonly maxHarts: number;
  /** True if the hart id names a possible hart. */
  validHart(id: number): boolean;
  /** True if [addr, addr+len) is guest RAM. */
  ramContains(addr: number, len: number): boolean;
  readRam(addr: number, len: number): Uint8Array;
  writeRam(addr: number, bytes: Uint8Array): void;
  setTimer(stimeValue: number): void;
  sendIpi(target: number): void;
  clearIpi(): void;
  remoteFence(target: number, kind: 'fence.i' | 'sfence.vma'): void;
  /** HSM: returns an SbiError value. */
  hartStart(target: number, startAddr: number, opaque: number): number;
  hartStop(): number;
  hartStatus(target: number): number;
  hartSuspend(type: number, resumeAddr: number, opaque: number): number;
  systemReset(type: number, reason: number): void;
  consoleWrite(bytes: Uint8Array): void;
  /** Returns up to `max` input bytes (possibly none). */
  consoleRead(max: number): Uint8Array;
  /** Vendor extension hook; undefined when the call is not ours. */
  vendorCall?(fid: number, args: Int32Array): { error: number; value: number } | undefined;
}

/** The registers an SBI call reads and writes: a0..a7 are x10..x17. */
const A0 = 10, A1 = 11, A2 = 12, A3 = 13, A4 = 14, A6 = 16, A7 = 17;

/** Extensions hartvisor implements, for probe_extension. */
const PRESENT = new Set<number>([SbiExt.BASE, SbiExt.TIME, SbiExt.IPI, SbiExt.RFENCE, SbiExt.HSM, SbiExt.SRST, SbiExt.DBCN,
  SbiExt.LEGACY_SET_TIMER, SbiExt.LEGACY_PUTCHAR, SbiExt.LEGACY_GETCHAR, SbiExt.LEGACY_CLEAR_IPI, SbiExt.LEGACY_SEND_IPI,
  SbiExt.LEGACY_REMOTE_FENCE_I, SbiExt.LEGACY_REMOTE_SFENCE_VMA, SbiExt.LEGACY_REMOTE_SFENCE_VMA_ASID, SbiExt.LEGACY_SHUTDOWN]);

export interface SbiOutcome {
  /** The call was not recognised (unknown extension or function): already answered with NOT_SUPPORTED. */
  unsupported: boolean;
}

/**
 * Handles the SBI call in `regs` (a7 = extension, a6 = function, a0..a5 = arguments) for `host`, writing the
 * result to a0 (error) and a1 (value), or a0 alone for legacy calls. Never throws on guest input.
 */
export function handleSbiCall(regs: Int32Array, host: SbiHost): SbiOutcome {
  const ext = regs[A7] >>> 0;
  const fid = regs[A6] >>> 0;
  const ret = (error: number, value = 0): SbiOutcome => { regs[A0] = error; regs[A1] = value; return { unsupported: false }; };
  const unsupported = (): SbiOutcome => { regs[A0] = SbiError.NOT_SUPPORTED; regs[A1] = 0; return { unsupported: true }; };

  switch (ext) {
    case SbiExt.BASE:
      switch (fid) {
        case 0: return ret(0, SBI_SPEC_VERSION);
        case 1: return ret(0, SBI_IMPL_ID);
        case 2: return ret(0, SBI_IMPL_VERSION);
        case 3: { const e = regs[A0] >>> 0; return ret(0, PRESENT.has(e) || (e === SbiExt.HARTVISOR && host.vendorCall !== undefined) ? 1 : 0); }
        case 4: case 5: case 6: return ret(0, 0); // mvendorid, marchid, mimpid
      }
      return unsupported();

    case SbiExt.TIME:
      if (fid !== 0) return unsupported();
      host.setTimer(u64(regs[A0], regs[A1]));
      return ret(0);

    case SbiExt.IPI: {
      if (fid !== 0) return unsupported();
      const targets = hartsOf(host, regs[A0] >>> 0, regs[A1] >>> 0);
      if (targets === undefined) return ret(SbiError.INVALID_PARAM);
      for (const t of targets) host.sendIpi(t);
      return ret(0);
    }

    case SbiExt.RFENCE: {
      if (fid > 6) return unsupported();
      if (fid >= 3) return unsupported(); // hypervisor-extension fences: no H extension here
      const targets = hartsOf(host, regs[A0] >>> 0, regs[A1] >>> 0);
      if (targets === undefined) return ret(SbiError.INVALID_PARAM);
      for (const t of targets) host.remoteFence(t, fid === 0 ? 'fence.i' : 'sfence.vma');
      return ret(0);
    }

    case SbiExt.HSM:
      switch (fid) {
        case 0: return ret(host.hartStart(regs[A0] >>> 0, regs[A1] >>> 0, regs[A2]));
        case 1: return ret(host.hartStop());
        case 2: {
          const id = regs[A0] >>> 0;
          if (!host.validHart(id)) return ret(SbiError.INVALID_PARAM);
          return ret(0, host.hartStatus(id));
        }
        case 3: return ret(host.hartSuspend(regs[A0] >>> 0, regs[A1] >>> 0, regs[A2]));
      }
      return unsupported();

    case SbiExt.SRST: {
      if (fid !== 0) return unsupported();
      const type = regs[A0] >>> 0, reason = regs[A1] >>> 0;
      if (type > 2 && type < 0xf0000000) return ret(SbiError.INVALID_PARAM);
      if (reason > 1 && reason < 0xe0000000) return ret(SbiError.INVALID_PARAM);
      if (type > 2) return ret(SbiError.NOT_SUPPORTED);
      host.systemReset(type, reason);
      return ret(0);
    }

    case SbiExt.DBCN:
      switch (fid) {
        case 0: case 1: { // console_write / console_read (num_bytes, base_lo, base_hi)
          const n = regs[A0] >>> 0, lo = regs[A1] >>> 0, hi = regs[A2] >>> 0;
          if (hi !== 0 || !host.ramContains(lo, n)) return ret(SbiError.INVALID_PARAM);
          if (fid === 0) { host.consoleWrite(host.readRam(lo, n)); return ret(0, n); }
          const got = host.consoleRead(n);
          host.writeRam(lo, got);
          return ret(0, got.length);
        }
        case 2: host.consoleWrite(Uint8Array.of(regs[A0] & 0xff)); return ret(0);
      }
      return unsupported();

    // ---- Legacy extensions (SBI v0.1): the result is in a0 only. ----
    case SbiExt.LEGACY_SET_TIMER: host.setTimer(u64(regs[A0], regs[A1])); regs[A0] = 0; return { unsupported: false };
    case SbiExt.LEGACY_PUTCHAR: host.consoleWrite(Uint8Array.of(regs[A0] & 0xff)); regs[A0] = 0; return { unsupported: false };
    case SbiExt.LEGACY_GETCHAR: { const b = host.consoleRead(1); regs[A0] = b.length ? b[0] : -1; return { unsupported: false }; }
    case SbiExt.LEGACY_CLEAR_IPI: host.clearIpi(); regs[A0] = 0; return { unsupported: false };
    case SbiExt.LEGACY_SEND_IPI: case SbiExt.LEGACY_REMOTE_FENCE_I: case SbiExt.LEGACY_REMOTE_SFENCE_VMA:
    case SbiExt.LEGACY_REMOTE_SFENCE_VMA_ASID: {
      // The hart mask is a pointer to an unsigned long in guest memory (0 = all harts).
      const p = regs[A0] >>> 0;
      let mask: number[] | undefined;
      if (p === 0) mask = allHarts(host);
      else if (!host.ramContains(p, 4)) { regs[A0] = SbiError.INVALID_ADDRESS; return { unsupported: false }; }
      else mask = hartsOf(host, new DataView(host.readRam(p, 4).buffer).getUint32(0, true), 0);
      if (mask === undefined) { regs[A0] = SbiError.INVALID_PARAM; return { unsupported: false }; }
      for (const t of mask) {
        if (ext === SbiExt.LEGACY_SEND_IPI) host.sendIpi(t);
        else host.remoteFence(t, ext === SbiExt.LEGACY_REMOTE_FENCE_I ? 'fence.i' : 'sfence.vma');
      }
      regs[A0] = 0; return { unsupported: false };
    }
    case SbiExt.LEGACY_SHUTDOWN: host.systemReset(0, 0); regs[A0] = 0; return { unsupported: false };
  }
  if (host.vendorCall) {
    const r = ext === SbiExt.HARTVISOR ? host.vendorCall(fid, regs) : undefined;
    if (r) return ret(r.error, r.value);
  }
  return unsupported();
}

function u64(lo: number, hi: number): number {
  return (hi >>> 0) * 0x100000000 + (lo >>> 0);
}

function allHarts(host: SbiHost): number[] {
  const out: number[] = [];
  for (let i = 0; i < host.maxHarts; i++) out.push(i);
  return out;
}

/**
 * The harts named by (hart_mask, hart_mask_base); base = -1 means every hart. Undefined if any named hart id is
 * not a valid one (the spec's SBI_ERR_INVALID_PARAM).
 */
function hartsOf(host: SbiHost, mask: number, base: number): number[] | undefined {
  if (base === 0xffffffff) return allHarts(host).filter((id) => host.validHart(id));
  const out: number[] = [];
  for (let b = 0; b < 32; b++) {
    if (((mask >>> b) & 1) === 0) continue;
    const id = base + b;
    if (!host.validHart(id)) return undefined;
    out.push(id);
  }
  return out;
}

export { A0, A1, A2, A3, A4 };
