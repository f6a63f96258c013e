/**
 * A guest kernel that does something hartvisor does not implement gets a clear error, not a hang (issue 5):
 * the instruction or SBI call is named, and with the default policy ('stop') the run ends as a guest fault.
 * With 'report' the guest gets what the architecture and the SBI spec say (illegal-instruction trap,
 * SBI_ERR_NOT_SUPPORTED), and the name still reaches the user once.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { unsupportedCsr, unsupportedInstruction } from '../src/cpu/unsupported.js';
import { createVm, type VmConfig } from '../src/hv/vm.js';
import * as A from './helpers/asm.js';
import { a0, a1, a6, a7, t0, zero } from './helpers/asm.js';

const RAM_BASE = 0x80000000;
const RESULT = RAM_BASE + 0x8000;
const FLW = 0x00052007; // flw f0, 0(a0)
const SBI_SRST = 0x53525354;

describe('naming unimplemented instructions', () => {
  it('knows the standard extensions this engine lacks', () => {
    const cases: [number, RegExp][] = [
      [FLW, /F\/D\/Q/], [0x00053027, /floating-point store/], [0x00b57553, /F\/D/], [0x0c0572d7, /V extension/],
      [0x02050007, /vector load/], [0x40b57533, /Zbb/], [0x0ab55533, /Zbb.*min\/max/], [0x60051513, /Zbb/],
      [0x28b51533, /Zbs/], [0x20b52533, /Zba/], [0x00302573, /F extension/], [0x14d02573, /Sstc/],
      [0x0005200f, /Zicbom/], [0x0000000b, /custom/], [0x0005051b, /RV64/],
      [0x6000, /F extension/], [0x2000, /D extension/], [0x6002, /F extension/], [0x28b5252f, /Zacas/],
    ];
    for (const [inst, re] of cases) {
      const name = unsupportedInstruction(inst);
      assert.ok(name !== null && re.test(name), `0x${inst.toString(16)}: got ${name}`);
    }
  });

  it('leaves reserved encodings, implemented instructions and privileged refusals to the architecture', () => {
    for (const inst of [0x00000000, 0xffffffff, 0xc0001073 /* unimp */, 0x30200073 /* mret */, 0x10500073 /* wfi */,
      0x00b50533 /* add */, 0x02b50533 /* mul */, 0x1005272f /* lr.w */, 0x0000100f /* fence.i */, 0x34102573 /* csrr mepc */,
      0x0001 /* c.nop */, 0x8082 /* c.ret */]) {
      assert.equal(unsupportedInstruction(inst), null, `0x${inst.toString(16)}`);
    }
    assert.equal(unsupportedCsr(0x180), null, 'satp is implemented');
    assert.equal(unsupportedCsr(0x300), null, 'an M-mode CSR is a privilege matter, not an extension');
  });
});

/** S-mode guest (linked at `base`): a trap handler that stores scause at RESULT and skips the instruction; `body` then SRST. */
function guest(body: (p: A.Asm) => void, base = RAM_BASE): Uint8Array {
  const p = new A.Asm(base);
  p.la(t0, 'handler').w(A.csrw(0x105, t0)); // stvec
  p.li(t0, RESULT).w(A.sw(zero, t0, 0)).li(a0, RESULT + 16);
  body(p);
  p.li(t0, RESULT).w(A.sw(a0, t0, 4)); // the SBI error code, for the SBI case
  p.li(a0, 0).li(a1, 0).li(a7, SBI_SRST).li(a6, 0).w(A.ecall());
  p.label('hang').w((pc, L) => A.jal(zero, L('hang') - pc));
  p.label('handler').w(A.csrr(t0, 0x142)).li(a6, RESULT).w(A.sw(t0, a6, 0));
  p.w(A.csrr(t0, 0x141), A.addi(t0, t0, 4), A.csrw(0x141, t0), A.sret());
  return p.bytes();
}

async function run(image: Uint8Array, extra: VmConfig) {
  const warnings: string[] = [];
  await using vm = await createVm({ memoryMiB: 1, executor: 'deterministic', onOutput: () => {}, onWarn: (m) => warnings.push(m), ...extra });
  vm.mem.write(RAM_BASE, image);
  (await vm.createVcpu(0)).start(RAM_BASE, 0);
  const exit = await vm.wait();
  return { exit, warnings, scause: vm.mem.readU32(RESULT), sbiError: vm.mem.readU32(RESULT + 4) | 0 };
}

describe('a guest kernel doing something unsupported', () => {
  const fp = guest((p) => p.w(FLW));
  const sbi = guest((p) => p.li(a7, 0x0a5a5a5a).li(a6, 7).w(A.ecall()));

  it('stop (default): an unimplemented instruction in S-mode is named and ends the run as a fatal error', async () => {
    const r = await run(fp, {});
    assert.equal(r.exit.reason, 'fatal');
    assert.equal(r.scause, 0, 'the guest never got the trap');
    assert.equal(r.warnings.length, 1, r.warnings.join('\n'));
    assert.match(r.warnings[0]!, /unsupported instruction 0x00052007 at pc 0x800000\w\w in S-mode: floating-point load/);
  });

  it('report: the guest takes the illegal-instruction trap and goes on; the instruction is named once', async () => {
    const r = await run(fp, { onUnsupported: 'report' });
    assert.deepEqual(r.exit, { reason: 'shutdown', exitCode: 0 });
    assert.equal(r.scause, 2, 'illegal instruction');
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /0x00052007.*delivered to the guest/);
  });

  it('stop: an unsupported SBI call is named and ends the run; report: the guest gets NOT_SUPPORTED', async () => {
    const stop = await run(sbi, {});
    assert.equal(stop.exit.reason, 'fatal');
    assert.match(stop.warnings.join('\n'), /unsupported SBI function: extension 0xa5a5a5a, function 7/);
    const report = await run(sbi, { onUnsupported: 'report' });
    assert.deepEqual(report.exit, { reason: 'shutdown', exitCode: 0 });
    assert.equal(report.sbiError, -2, 'SBI_ERR_NOT_SUPPORTED');
    assert.match(report.warnings.join('\n'), /returned SBI_ERR_NOT_SUPPORTED/);
  });

  it('hartvisor run names it on stderr and exits non-zero (and the threaded executor agrees)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hv-unsupported-'));
    const file = join(dir, 'fp.bin');
    // `hartvisor run` loads a flat S-mode image 4 MiB into RAM, as QEMU's virt machine does.
    writeFileSync(file, guest((p) => p.w(FLW), RAM_BASE + 0x400000));
    const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
    const r = spawnSync(process.execPath, [cli, 'run', file, '--timeout', '20'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 102, r.stderr);
    assert.match(r.stderr, /unsupported instruction 0x00052007 .* floating-point load \(F\/D\/Q\/Zfh extension\)/);
    const ok = spawnSync(process.execPath, [cli, 'run', file, '--on-unsupported', 'report', '--timeout', '20'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(ok.status, 0, ok.stderr);
    const bad = spawnSync(process.execPath, [cli, 'run', file, '--on-unsupported', 'maybe'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(bad.status, 103);
    assert.match(bad.stderr, /--on-unsupported: expected one of stop, report/);
  });
});
