/**
 * riscv-tests (the RISC-V ISA tests, "p" environment): every ELF file in the folder is one test, entered in M-mode
 * at its ELF entry on hart 0, reporting through HTIF: exit code 0 is a pass, n is "test case n failed".
 * Other files (PROVENANCE.md, …) are not tests and are passed over without a line.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageError } from '../../boot/image-error.js';
import { isElf } from '../../boot/elf.js';
import { runBareMetal } from '../../host/bare.js';
import { readTestImage } from './suite.js';
import type { SuiteKind, SuiteRunOptions, TestCase, TestOutcome } from './suite.js';

/** Guest RAM per test: the images are a few KiB at 0x80000000. */
const TEST_MEMORY_MIB = 16;
/** Per-test limit when none is given: the tests finish in milliseconds on a working engine. */
const DEFAULT_TIMEOUT_SEC = 10;

/** True when `path` is a regular file starting with the ELF magic. Unreadable entries count as not ELF. */
async function isElfFile(path: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'r');
    if (!(await fh.stat()).isFile()) return false;
    const head = new Uint8Array(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    return bytesRead === 4 && isElf(head);
  } catch {
    return false;
  } finally {
    await fh?.close();
  }
}

export const riscvTests: SuiteKind = {
  name: 'riscv-tests',
  describeTests: 'ELF test images',
  defaultTimeoutSec: DEFAULT_TIMEOUT_SEC,
  accepts: [],

  async detect(dir, entries) {
    for (const e of entries) if (await isElfFile(join(dir, e))) return true;
    return false;
  },

  async list(dir, entries) {
    const tests: TestCase[] = [];
    for (const e of entries) {
      const path = join(dir, e);
      if (await isElfFile(path)) tests.push({ name: e.replace(/\s/g, '_'), path });
    }
    return tests;
  },

  async run(test: TestCase, opts: SuiteRunOptions): Promise<TestOutcome> {
    const image = await readTestImage(test.path);
    if (!(image instanceof Uint8Array)) return image;
    const timeoutSec = opts.timeoutSec ?? DEFAULT_TIMEOUT_SEC;
    const encoder = new TextEncoder();
    const echo = opts.echo;
    try {
      const r = await runBareMetal(image, {
        memoryMiB: TEST_MEMORY_MIB,
        timeoutSec,
        onOutput: echo ? (s) => echo(encoder.encode(s)) : undefined,
      });
      switch (r.reason) {
        case 'exit': return r.exitCode === 0 ? { status: 'pass' } : { status: 'fail', detail: `exit code ${r.exitCode}` };
        case 'timeout': return { status: 'fail', detail: `timeout after ${timeoutSec} s` };
        case 'trap': return { status: 'fail', detail: `trap: ${r.message}` };
        case 'error': return { status: 'fail', detail: `error: ${r.message}` };
      }
    } catch (err) {
      if (err instanceof ImageError) return { status: 'fail', detail: `bad image: ${err.message}` };
      throw err;
    }
  },
};
