/**
 * kvm-unit-tests (the KVM project's own test suite, RISC-V build): `*.flat` images booted in S-mode the way
 * QEMU's virt machine boots a kernel (hart 0 at RAM + 4 MiB, a0 = hartid, a1 = device tree, other harts stopped
 * until SBI HSM starts them). The folder is recognised by its `unittests.cfg` beside `*.flat` files.
 *
 * The tests are the cfg's sections, in order: `file` is the image, `test_args` the kernel command line, `smp`
 * the vCPU count (`$MAX_SMP` = the run's --vcpus). A section whose image is not in the folder is skipped. Images
 * in the folder that no section names (e.g. `sieve.flat`) run after them, with no arguments on --vcpus vCPUs.
 *
 * A test reports on its console: `PASS:`, `FAIL:`, `XPASS:` (an unexpected pass, a failure), `SKIP:`, `XFAIL:`
 * lines, `SUMMARY: ...`, then `EXIT: STATUS=x` (odd; 1 = success) before SBI system reset. It passes when it
 * printed no FAIL/XPASS line, printed `EXIT: STATUS=1`, and then shut down.
 */
import { join } from 'node:path';
import { ImageError } from '../../boot/image-error.js';
import { readInputFile } from '../files.js';
import { DEFAULT_SMODE_MEMORY_MIB, runSmodeGuest } from '../smode.js';
import type { SmodeRunResult } from '../smode.js';
import { readTestImage } from './suite.js';
import type { SuiteKind, SuiteRunOptions, TestCase, TestOutcome } from './suite.js';
import { cfgBootargs, cfgSmp, cfgTimeoutSec, parseUnittestsCfg } from './unittests-cfg.js';
import type { CfgSmp } from './unittests-cfg.js';

/** The suite's list of tests. */
export const CFG_FILE = 'unittests.cfg';
/** Guest RAM per test, as the suite is run on QEMU (`-m 256`). */
const TEST_MEMORY_MIB = DEFAULT_SMODE_MEMORY_MIB;
/** The architecture these images are built for (a cfg `arch` naming another one skips the section). */
const ARCH = 'riscv32';
/** Per-test limit when neither --timeout nor the cfg sets one: the slowest image here (sieve) needs 11-16 s, and a
 *  loaded machine several times that. */
const DEFAULT_TIMEOUT_SEC = 300;
/** FAIL lines listed under a failed test; the rest are counted. */
const MAX_LISTED_FAILURES = 20;
/** Longest console line kept for parsing; a longer one is cut (no report line is anywhere near this). */
const MAX_LINE = 4096;

/** A kvm-unit-tests test: its image, command line and vCPU count. */
export interface KvmTestCase extends TestCase {
  readonly bootargs: string;
  readonly smp: CfgSmp;
  /** The section's own `timeout`, in seconds. */
  readonly timeoutSec?: number;
}

/** What a test's console said, line by line. */
export class ReportParser {
  pass = 0;
  fail = 0;
  skip = 0;
  xfail = 0;
  summary: string | undefined;
  /** The x of `EXIT: STATUS=x`, or undefined while there is none. */
  exitStatus: number | undefined;
  /** FAIL and XPASS lines, in order (at most MAX_LISTED_FAILURES are kept). */
  readonly failures: string[] = [];
  private readonly decoder = new TextDecoder('utf-8');
  private partial = '';

  /** Feeds console bytes. */
  push(bytes: Uint8Array): void {
    const text = this.partial + this.decoder.decode(bytes, { stream: true });
    const lines = text.split('\n');
    this.partial = lines.pop()!.slice(0, MAX_LINE);
    for (const l of lines) this.line(l);
  }

  /** Ends the input: an unterminated last line counts too. */
  end(): void {
    const rest = this.partial + this.decoder.decode();
    this.partial = '';
    if (rest !== '') this.line(rest);
  }

  private line(raw: string): void {
    const line = raw.replace(/\r$/, '');
    if (line.startsWith('PASS:')) this.pass++;
    else if (line.startsWith('FAIL:') || line.startsWith('XPASS:')) {
      this.fail++;
      if (this.failures.length < MAX_LISTED_FAILURES) this.failures.push(line);
    } else if (line.startsWith('SKIP:')) this.skip++;
    else if (line.startsWith('XFAIL:')) this.xfail++;
    else if (line.startsWith('SUMMARY:')) this.summary = line;
    else {
      const exit = /^EXIT: STATUS=([0-9]+)/.exec(line);
      if (exit) this.exitStatus = Number(exit[1]);
    }
  }

  /** "47 pass, 0 fail, 13 skip" (", N xfail" when there are any). */
  counts(): string {
    return `${this.pass} pass, ${this.fail} fail, ${this.skip} skip${this.xfail > 0 ? `, ${this.xfail} xfail` : ''}`;
  }
}

/** Why a run that printed no usable EXIT line ended. */
function describeEnding(r: SmodeRunResult, timeoutSec: number): string {
  switch (r.reason) {
    case 'shutdown': return `guest shut down (SRST, ${r.exitCode === 0 ? 'no reason' : 'system failure'})`;
    case 'fatal': return `guest fault: ${r.message}`;
    case 'stalled': return 'every hart stopped';
    case 'timeout': return `timeout after ${timeoutSec} s`;
    case 'stopped': return r.message;
  }
}

/** The outcome of a finished run from its console report. */
export function judge(report: ReportParser, result: SmodeRunResult, timeoutSec: number): TestOutcome {
  const counts = report.counts();
  const notes = report.failures.slice();
  if (report.fail > notes.length) notes.push(`... and ${report.fail - notes.length} more FAIL lines`);
  if (report.exitStatus === undefined) {
    return { status: 'fail', detail: `${counts}; no EXIT line: ${describeEnding(result, timeoutSec)}`, notes };
  }
  if (report.exitStatus !== 1) return { status: 'fail', detail: `${counts}; EXIT: STATUS=${report.exitStatus}`, notes };
  if (report.fail > 0) return { status: 'fail', detail: counts, notes };
  if (result.reason !== 'shutdown') {
    return { status: 'fail', detail: `${counts}; EXIT: STATUS=1, then ${describeEnding(result, timeoutSec)}`, notes };
  }
  return { status: 'pass', detail: counts };
}

/** The vCPU count a test gets, or why it cannot run with the --vcpus given. */
function resolveSmp(smp: CfgSmp, vcpus: number): number | string {
  switch (smp.kind) {
    case 'max': return vcpus;
    case 'count': return smp.count <= vcpus ? smp.count : `needs smp = ${smp.count} vCPUs, --vcpus is ${vcpus}`;
    case 'unknown': return `cannot read smp = ${smp.text}`;
  }
}

export const kvmUnitTests: SuiteKind<KvmTestCase> = {
  name: 'kvm-unit-tests',
  describeTests: `test images (${CFG_FILE} and *.flat files)`,
  defaultTimeoutSec: DEFAULT_TIMEOUT_SEC,
  accepts: ['vcpus', 'executor', 'seed'],

  async detect(_dir, entries) {
    return entries.includes(CFG_FILE) && entries.some((e) => e.endsWith('.flat'));
  },

  async list(dir, entries) {
    const cfgBytes = await readInputFile(join(dir, CFG_FILE), 'suite list');
    const sections = parseUnittestsCfg(new TextDecoder('utf-8').decode(cfgBytes));
    const present = new Set(entries);
    const named = new Set<string>();
    const tests: KvmTestCase[] = [];
    for (const s of sections) {
      const file = s.values.get('file');
      const arch = s.values.get('arch');
      const name = s.name.replace(/\s/g, '_');
      const base = { name, path: join(dir, file ?? ''), bootargs: cfgBootargs(s), smp: cfgSmp(s), timeoutSec: cfgTimeoutSec(s) };
      if (file !== undefined) named.add(file);
      if (file === undefined) tests.push({ ...base, skip: `no file in ${CFG_FILE}` });
      else if (arch !== undefined && !arch.split(/[\s|,]+/).includes(ARCH)) tests.push({ ...base, skip: `for arch ${arch}` });
      else if (!present.has(file)) tests.push({ ...base, skip: `${file} not found` });
      else tests.push(base);
    }
    for (const e of entries) {
      if (e.endsWith('.flat') && !named.has(e)) {
        tests.push({ name: e.slice(0, -'.flat'.length).replace(/\s/g, '_'), path: join(dir, e), bootargs: '', smp: { kind: 'max' } });
      }
    }
    return tests;
  },

  async run(test, opts: SuiteRunOptions): Promise<TestOutcome> {
    const vcpus = resolveSmp(test.smp, opts.vcpus);
    if (typeof vcpus === 'string') return { status: 'skip', detail: vcpus };
    const timeoutSec = opts.timeoutSec ?? test.timeoutSec ?? DEFAULT_TIMEOUT_SEC;
    const image = await readTestImage(test.path);
    if (!(image instanceof Uint8Array)) return image;
    const report = new ReportParser();
    let result: SmodeRunResult;
    try {
      result = await runSmodeGuest(image, {
        memoryMiB: TEST_MEMORY_MIB,
        maxVcpus: vcpus,
        bootargs: test.bootargs,
        executor: opts.executor,
        seed: opts.seed,
        onHartStop: 'destroy',
        // The suite probes unsupported SBI functions and executes illegal instructions on purpose.
        onUnsupported: 'report',
        // Short runs with tight timing windows: no background engine warm-up competing for the cores.
        warmUp: false,
        timeoutSec,
        onOutput: (bytes) => { report.push(bytes); opts.echo?.(bytes); },
        onWarn: opts.warn,
      });
    } catch (err) {
      if (err instanceof ImageError) return { status: 'fail', detail: `bad image: ${err.message}` };
      throw err;
    }
    report.end();
    return judge(report, result, timeoutSec);
  },
};
