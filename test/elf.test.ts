/** ELF parser and image loader: hand-built images, good and bad. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { isElf, parseElf } from '../src/boot/elf.js';
import { loadImage } from '../src/boot/image.js';
import { ImageError, type ImageErrorCode } from '../src/boot/image-error.js';
import { GuestMemory } from '../src/cpu/memory.js';
import { buildElf, type ElfSpec } from './support/elf-builder.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const riscvTests = resolve(repoRoot, '../shared/conformance/riscv-tests');

const code = Uint8Array.from([0x13, 0, 0, 0, 0x6f, 0, 0, 0]); // nop; j .
const data = Uint8Array.from([1, 2, 3, 4]);

const goodSpec: ElfSpec = {
  entry: 0x80000004,
  segments: [
    { paddr: 0x80000000, data: code, flags: 5 },
    { paddr: 0x80001000, data, memsz: 0x20, flags: 6 },
  ],
  symbols: [
    { name: 'tohost', value: 0x80001000, global: true },
    { name: 'fromhost', value: 0x80001008, global: true },
    { name: 'dup', value: 0x11, global: false },
    { name: 'dup', value: 0x22, global: true },
    { name: 'dup', value: 0x33, global: false },
    { name: 'local_first', value: 0x44 },
    { name: 'local_first', value: 0x55 },
    { name: 'undefined_sym', value: 0x66, global: true, shndx: 0 },
    { name: 'a_file.o', value: 0, type: 4 },
  ],
};

function good(): { bytes: Uint8Array; layout: ReturnType<typeof buildElf>['layout'] } {
  return buildElf(goodSpec);
}

/** Applies `edit` to a fresh good image and expects an ImageError with `code`. */
function expectBad(code: ImageErrorCode, edit: (bytes: Uint8Array, dv: DataView, layout: ReturnType<typeof buildElf>['layout']) => Uint8Array | void, pattern?: RegExp) {
  const { bytes, layout } = good();
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const edited = edit(bytes, dv, layout) ?? bytes;
  assert.throws(() => parseElf(edited), (err: unknown) => {
    assert.ok(err instanceof ImageError, `expected ImageError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.doesNotMatch(err.message, /\n/);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

test('parses a good image: entry, segments, symbols', () => {
  const elf = parseElf(good().bytes);
  assert.equal(elf.entry, 0x80000004);
  assert.equal(elf.segments.length, 2);
  assert.deepEqual(elf.segments.map((s) => [s.paddr, s.filesz, s.memsz, s.flags]), [
    [0x80000000, 8, 8, 5],
    [0x80001000, 4, 0x20, 6],
  ]);
  assert.deepEqual([...elf.segments[0].data], [...code]);
  assert.equal(elf.symbols.get('tohost'), 0x80001000);
  assert.equal(elf.symbols.get('fromhost'), 0x80001008);
  assert.equal(elf.symbols.get('dup'), 0x22, 'a global definition wins over locals');
  assert.equal(elf.symbols.get('local_first'), 0x44, 'among locals the first wins');
  assert.equal(elf.symbols.has('undefined_sym'), false);
  assert.equal(elf.symbols.has('a_file.o'), false);
});

test('segments come out sorted by address whatever the header order', () => {
  const { bytes } = buildElf({ ...goodSpec, segments: [...goodSpec.segments].reverse() });
  assert.deepEqual(parseElf(bytes).segments.map((s) => s.paddr), [0x80000000, 0x80001000]);
});

test('a stripped image (no section headers) has no symbols', () => {
  const elf = parseElf(buildElf({ ...goodSpec, noSections: true }).bytes);
  assert.equal(elf.symbols.size, 0);
  assert.equal(elf.segments.length, 2);
});

test('non-LOAD program headers and empty segments are ignored', () => {
  const { bytes } = buildElf({
    segments: [
      { paddr: 0, data: new Uint8Array(4), type: 0x70000003 }, // PT_RISCV_ATTRIBUTES
      { paddr: 0x80000000, data: code },
      { paddr: 0x90000000, data: new Uint8Array(0), memsz: 0 },
    ],
    entry: 0x80000000,
  });
  assert.deepEqual(parseElf(bytes).segments.map((s) => s.paddr), [0x80000000]);
});

test('isElf looks at the magic only', () => {
  assert.equal(isElf(good().bytes), true);
  assert.equal(isElf(Uint8Array.from([0x7f, 0x45, 0x4c])), false);
  assert.equal(isElf(Uint8Array.from([0x13, 0, 0, 0])), false);
});

test('refuses: empty, no magic, truncated identification and header', () => {
  assert.throws(() => parseElf(new Uint8Array(0)), { code: 'empty' });
  assert.throws(() => parseElf(Uint8Array.from([1, 2, 3, 4, 5])), { code: 'bad-header' });
  expectBad('truncated', (b) => b.slice(0, 10));
  expectBad('truncated', (b) => b.slice(0, 40), /header/);
});

test('refuses: ELF64, unknown class, big-endian, unknown data encoding, bad versions', () => {
  expectBad('not-elf32', (b) => { b[4] = 2; }, /RV64/);
  expectBad('not-elf32', (b, dv) => { b[4] = 2; dv.setUint16(18, 62, true); }, /x86-64/);
  expectBad('not-elf32', (b) => { b[4] = 7; });
  expectBad('wrong-endian', (b) => { b[5] = 2; });
  expectBad('bad-header', (b) => { b[5] = 9; });
  expectBad('bad-version', (b) => { b[6] = 0; });
  expectBad('bad-version', (_b, dv) => { dv.setUint32(20, 2, true); });
});

test('refuses: wrong machine, not an executable', () => {
  expectBad('wrong-machine', (_b, dv) => { dv.setUint16(18, 62, true); }, /x86-64/);
  expectBad('wrong-machine', (_b, dv) => { dv.setUint16(18, 9999, true); }, /machine 9999/);
  expectBad('wrong-type', (_b, dv) => { dv.setUint16(16, 1, true); }, /REL/);
  expectBad('wrong-type', (_b, dv) => { dv.setUint16(16, 3, true); }, /DYN/);
  expectBad('wrong-type', (_b, dv, l) => { dv.setUint32(l.phoff, 3, true); }, /interpreter/);
});

test('refuses: impossible header fields', () => {
  expectBad('bad-header', (_b, dv) => { dv.setUint16(40, 20, true); });
  expectBad('bad-header', (_b, dv) => { dv.setUint16(42, 56, true); }, /program header entry size/);
  expectBad('bad-header', (_b, dv) => { dv.setUint16(46, 64, true); }, /section header entry size/);
  expectBad('no-segments', (_b, dv) => { dv.setUint16(44, 0, true); });
});

test('refuses: tables and segments past the end of the file', () => {
  expectBad('truncated', (_b, dv) => { dv.setUint32(28, 0xfffffff0, true); }, /program header table/);
  expectBad('truncated', (_b, dv) => { dv.setUint16(44, 200, true); }, /program header table/);
  expectBad('truncated', (_b, dv) => { dv.setUint32(32, 0x7fffffff, true); }, /section header/);
  expectBad('truncated', (_b, dv) => { dv.setUint16(48, 90, true); }, /section header table/);
  expectBad('truncated', (_b, dv, l) => { dv.setUint32(l.phoff + 4, 0x10000, true); }, /segment 0/);
  expectBad('truncated', (_b, dv, l) => { dv.setUint32(l.phoff + 16, 0x10000, true); dv.setUint32(l.phoff + 20, 0x10000, true); });
  expectBad('truncated', (_b, dv, l) => { dv.setUint32(l.shoff + 40 + 16, 0xffffff00, true); }, /symbol table/);
  expectBad('truncated', (_b, dv, l) => { dv.setUint32(l.shoff + 80 + 20, 0x100000, true); }, /string table/);
});

test('every prefix of a good image is refused as an ImageError, never another exception', () => {
  const { bytes } = good();
  for (let n = 0; n < bytes.length; n++) {
    assert.throws(() => parseElf(bytes.subarray(0, n)), ImageError, `prefix of ${n} bytes`);
  }
});

test('refuses: nonsense segments (filesz > memsz, address wrap, overlap, no LOAD, entry outside)', () => {
  expectBad('bad-segment', (_b, dv, l) => { dv.setUint32(l.phoff + 32 + 20, 2, true); }, /file size/);
  expectBad('bad-segment', (_b, dv, l) => { dv.setUint32(l.phoff + 32 + 12, 0xfffffff0, true); }, /wraps/);
  expectBad('overlap', (_b, dv, l) => { dv.setUint32(l.phoff + 32 + 12, 0x80000004, true); }, /overlap/);
  expectBad('no-segments', (_b, dv, l) => { dv.setUint32(l.phoff, 4, true); dv.setUint32(l.phoff + 32, 4, true); });
  expectBad('bad-entry', (_b, dv) => { dv.setUint32(24, 0x90000000, true); }, /entry point 0x90000000/);
});

test('refuses: malformed symbol tables', () => {
  expectBad('bad-symtab', (_b, dv, l) => { dv.setUint32(l.shoff + 40 + 36, 12, true); }, /entry size/);
  expectBad('bad-symtab', (_b, dv, l) => { dv.setUint32(l.shoff + 40 + 20, 17, true); }, /multiple/);
  expectBad('bad-symtab', (_b, dv, l) => { dv.setUint32(l.shoff + 40 + 24, 9, true); }, /does not exist/);
  expectBad('bad-symtab', (_b, dv, l) => { dv.setUint32(l.shoff + 40 + 24, 1, true); }, /not a string table/);
  expectBad('bad-symtab', (_b, dv, l) => { dv.setUint32(l.symtabOff + 16, 0x5000, true); }, /name offset/);
  // The string table starts "\0tohost\0": 7 bytes cut it just before the NUL that ends "tohost".
  expectBad('bad-symtab', (_b, dv, l) => { dv.setUint32(l.shoff + 80 + 20, 7, true); }, /NUL-terminated/);
});

test('random damage to a good image gives a result or an ImageError, nothing else', () => {
  const { bytes } = good();
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (edits) => {
      const b = bytes.slice();
      for (const [at, v] of edits) b[at] = v;
      try {
        parseElf(b);
      } catch (err) {
        assert.ok(err instanceof ImageError, String(err));
        assert.doesNotMatch(err.message, /\n/);
      }
    }),
    { numRuns: 2000, seed: 42 },
  );
});

test('loadImage places segments and zero-fills the bss', () => {
  const mem = new GuestMemory(1 << 20);
  mem.u8.fill(0xee);
  const loaded = loadImage(mem, good().bytes);
  assert.equal(loaded.format, 'elf');
  assert.equal(loaded.entry, 0x80000004);
  assert.equal(loaded.symbols.get('tohost'), 0x80001000);
  assert.deepEqual([...mem.read(0x80000000, 8)], [...code]);
  assert.deepEqual([...mem.read(0x80001000, 4)], [...data]);
  assert.deepEqual([...mem.read(0x80001004, 0x1c)], new Array(0x1c).fill(0));
  assert.equal(mem.u8[0x1020], 0xee, 'nothing past memsz is touched');
  assert.deepEqual(loaded.regions, [{ start: 0x80000000, end: 0x80000008 }, { start: 0x80001000, end: 0x80001020 }]);
});

test('loadImage copies a flat binary to flatAddress (default: RAM base)', () => {
  const mem = new GuestMemory(1 << 20);
  const flat = Uint8Array.from([0x13, 0, 0, 0, 1, 2]);
  assert.equal(loadImage(mem, flat).entry, 0x80000000);
  assert.deepEqual([...mem.read(0x80000000, 6)], [...flat]);
  const at = loadImage(mem, flat, { flatAddress: 0x80080000 });
  assert.equal(at.format, 'flat');
  assert.equal(at.entry, 0x80080000);
  assert.equal(at.symbols.size, 0);
  assert.deepEqual([...mem.read(0x80080000, 6)], [...flat]);
  assert.throws(() => loadImage(mem, new Uint8Array(0)), { code: 'empty' });
});

test('loadImage refuses what does not fit in RAM and leaves RAM untouched', () => {
  const mem = new GuestMemory(1 << 20);
  assert.throws(
    () => loadImage(mem, new Uint8Array((1 << 20) + 1)),
    (err: unknown) => err instanceof ImageError && err.code === 'does-not-fit' &&
      err.message === 'image does not fit in guest RAM: segment 0x80000000 - 0x80100000 outside 0x80000000-0x800fffff (1 MiB)',
  );
  assert.throws(() => loadImage(mem, Uint8Array.from([1]), { flatAddress: 0x100000 }), { code: 'does-not-fit' });
  // An ELF with one good segment and one beyond RAM: nothing is written.
  const { bytes } = buildElf({
    entry: 0x80000000,
    segments: [{ paddr: 0x80000000, data: Uint8Array.from([9, 9, 9, 9]) }, { paddr: 0x800ffffc, data: new Uint8Array(8) }],
  });
  assert.throws(() => loadImage(mem, bytes), /segment 0x800ffffc - 0x80100003 outside 0x80000000-0x800fffff/);
  assert.equal(mem.u8[0], 0);
});

test('parses a real riscv-tests image', { skip: !existsSync(riscvTests) && `${riscvTests} not found` }, () => {
  const elf = parseElf(readFileSync(resolve(riscvTests, 'rv32ui-p-add')));
  assert.equal(elf.entry, 0x80000000);
  assert.equal(typeof elf.symbols.get('tohost'), 'number');
  assert.ok(elf.segments.every((s) => s.paddr >= 0x80000000));
});
