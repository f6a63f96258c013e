/**
 * The `hartvisor` command as installed (package.json "bin"): the bundle of the command and the bundle of its vCPU
 * thread (scripts/bundle.mjs), which `npm run build` makes beside dist/src/cli/main.js. The other CLI tests run the
 * unbundled main.js; these check what the bundling could break: the vCPU threads' module found beside the command,
 * the benchmark groups loaded from dist/bench, the version read from package.json.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode } from '../src/cli/exit-codes.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(resolve(repoRoot, 'package.json'), 'utf8')) as { version: string; bin: { hartvisor: string } };
const cli = resolve(repoRoot, pkg.bin.hartvisor);
const demo = resolve(repoRoot, 'guests/images/demo.bin');

function hv(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, HARTVISOR_DEBUG: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the installed command is the bundle, with its vCPU thread beside it', () => {
  assert.equal(pkg.bin.hartvisor, 'dist/src/cli/hartvisor.js');
  assert.ok(existsSync(cli) && existsSync(resolve(cli, '../vcpu-worker.cjs')), 'npm run build makes both bundles');
  const v = hv('--version');
  assert.equal(v.status, 0, v.stderr);
  assert.equal(v.stdout, `hartvisor ${pkg.version}\n`);
});

test('the bundled command runs a guest on vCPU threads, and a bare-metal image', () => {
  const t = hv('run', demo, '--vcpus', '3', '--append', 'demo.ops=20000 demo.harts=3');
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /demo: result OK total=20000/);
  const b = hv('run', resolve(repoRoot, 'guests/images/bench-empty.elf'));
  assert.equal(b.status, 0, b.stderr);
});

test('the bundled command finds the benchmark groups', () => {
  const l = hv('bench', '--list');
  assert.equal(l.status, 0, l.stderr);
  assert.match(l.stdout, /^linux +Linux 6\.1 boot/m);
  const bad = hv('bench', 'frobnicate');
  assert.equal(bad.status, ExitCode.USAGE, bad.stderr);
  assert.match(bad.stderr, /^hartvisor: error: no benchmark group 'frobnicate'/);
});

test('the command drops NODE_EXTRA_CA_CERTS before Node starts (its first line): Node would load that bundle first', () => {
  // Run as a user runs it, through its first line; Node warns about an extra-certificates file it cannot load.
  const r = spawnSync(cli, ['--version'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_EXTRA_CA_CERTS: '/nonexistent/ca.pem' } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `hartvisor ${pkg.version}\n`);
  assert.equal(r.stderr, '', 'no certificate warning');
  // (The same file given to node directly does warn: the check above can fail.)
  const n = spawnSync(process.execPath, ['-e', '0'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_EXTRA_CA_CERTS: '/nonexistent/ca.pem' } });
  assert.match(n.stderr, /extra certs/i);
});
