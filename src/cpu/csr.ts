/** CSR numbers, status bits and trap causes (RISC-V privileged spec 1.12 names). */
export const enum Csr {
  SSTATUS = 0x100, SIE = 0x104, STVEC = 0x105, SCOUNTEREN = 0x106, SENVCFG = 0x10a,
  SSCRATCH = 0x140, SEPC = 0x141, SCAUSE = 0x142, STVAL = 0x143, SIP = 0x144, SATP = 0x180,
  MSTATUS = 0x300, MISA = 0x301, MEDELEG = 0x302, MIDELEG = 0x303, MIE = 0x304, MTVEC = 0x305,
  MCOUNTEREN = 0x306, MENVCFG = 0x30a, MSTATUSH = 0x310, MENVCFGH = 0x31a, MCOUNTINHIBIT = 0x320,
  MSCRATCH = 0x340, MEPC = 0x341, MCAUSE = 0x342, MTVAL = 0x343, MIP = 0x344,
  PMPCFG0 = 0x3a0, PMPADDR0 = 0x3b0,
  TSELECT = 0x7a0, TDATA1 = 0x7a1, TDATA2 = 0x7a2, TDATA3 = 0x7a3,
  MCYCLE = 0xb00, MINSTRET = 0xb02, MCYCLEH = 0xb80, MINSTRETH = 0xb82,
  CYCLE = 0xc00, TIME = 0xc01, INSTRET = 0xc02, CYCLEH = 0xc80, TIMEH = 0xc81, INSTRETH = 0xc82,
  MVENDORID = 0xf11, MARCHID = 0xf12, MIMPID = 0xf13, MHARTID = 0xf14, MCONFIGPTR = 0xf15,
}

export const enum Mstatus {
  SIE = 1 << 1, MIE = 1 << 3, SPIE = 1 << 5, MPIE = 1 << 7, SPP = 1 << 8,
  MPP_SHIFT = 11, MPP = 3 << 11, MPRV = 1 << 17, SUM = 1 << 18, MXR = 1 << 19,
  TVM = 1 << 20, TW = 1 << 21, TSR = 1 << 22,
}

/** Bits of mstatus that software can write (no F/V: FS, VS, XS read as zero). */
export const MSTATUS_WRITABLE = Mstatus.SIE | Mstatus.MIE | Mstatus.SPIE | Mstatus.MPIE | Mstatus.SPP | Mstatus.MPP |
  Mstatus.MPRV | Mstatus.SUM | Mstatus.MXR | Mstatus.TVM | Mstatus.TW | Mstatus.TSR;
/** The sstatus view of mstatus. */
export const SSTATUS_MASK = Mstatus.SIE | Mstatus.SPIE | Mstatus.SPP | Mstatus.SUM | Mstatus.MXR;

export const enum Irq {
  SSI = 1, MSI = 3, STI = 5, MTI = 7, SEI = 9, MEI = 11,
}
export const SIP_MASK = (1 << Irq.SSI) | (1 << Irq.STI) | (1 << Irq.SEI);
export const MIP_MASK = SIP_MASK | (1 << Irq.MSI) | (1 << Irq.MTI) | (1 << Irq.MEI);

export const enum Cause {
  INST_MISALIGNED = 0, INST_ACCESS = 1, ILLEGAL_INST = 2, BREAKPOINT = 3, LOAD_MISALIGNED = 4,
  LOAD_ACCESS = 5, STORE_MISALIGNED = 6, STORE_ACCESS = 7, ECALL_U = 8, ECALL_S = 9, ECALL_M = 11,
  INST_PAGE_FAULT = 12, LOAD_PAGE_FAULT = 13, STORE_PAGE_FAULT = 15,
}

/** Exceptions that medeleg can delegate (all standard ones but ecall from M). */
export const MEDELEG_MASK = 0xb3ff;

export const CAUSE_NAMES: Record<number, string> = {
  0: 'instruction address misaligned', 1: 'instruction access fault', 2: 'illegal instruction', 3: 'breakpoint',
  4: 'load address misaligned', 5: 'load access fault', 6: 'store/AMO address misaligned', 7: 'store/AMO access fault',
  8: 'environment call from U-mode', 9: 'environment call from S-mode', 11: 'environment call from M-mode',
  12: 'instruction page fault', 13: 'load page fault', 15: 'store/AMO page fault',
};

export const enum Priv { U = 0, S = 1, M = 3 }
