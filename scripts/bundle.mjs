// Bundles the `hartvisor` command (dist/src/cli/main.js) and the vCPU thread's module (dist/src/host/vcpu-worker.js)
// into one file each, after `tsc`: dist/src/cli/hartvisor.js and dist/src/cli/vcpu-worker.cjs. Node loads ES modules
// one by one (~0.4 ms each on the test host): the command's 80 modules took ~30 ms before its first line ran, and
// each vCPU thread's 25 ~12 ms; bundled, `hartvisor run` of a 4-vCPU Linux boot took ~45 ms less (bench/README.md).
//
// Both files sit beside main.js, so that the relative URLs in the code resolve as they do unbundled: the vCPU
// thread's module (host/threads.ts: './vcpu-worker.js' next to the code that starts it, renamed '.cjs' in the
// bundle) and the benchmark groups (cli/commands/bench.ts imports '../../../bench/*.js'), which stay out of the
// bundle and load from dist/bench. Library users import dist/src/index.js, unbundled.
//
// The vCPU thread's bundle is CommonJS: Node starts a worker on a CommonJS file ~4 ms sooner than on an ES module
// (an empty one: 20.3 against 16.2 ms to its first line, median of 10, this host), on the boot vCPU's way to its
// first instruction and in every spare.
import { readFile } from 'node:fs/promises';
import { build } from 'esbuild';

const common = { bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning', legalComments: 'none' };
/** The benchmark groups, imported from dist/src/cli/commands/: left out, as seen from dist/src/cli/. */
const benchOutside = {
  name: 'bench-outside',
  setup(b) { b.onResolve({ filter: /^\.\.\/\.\.\/\.\.\/bench\// }, (a) => ({ path: a.path.slice(3), external: true })); },
};
/** The command starts the CommonJS bundle of the vCPU thread. */
const workerCjs = {
  name: 'worker-cjs',
  setup(b) {
    b.onLoad({ filter: /[/\\]host[/\\]threads\.js$/ }, async (a) => {
      const src = await readFile(a.path, 'utf8');
      const from = "new URL('./vcpu-worker.js', import.meta.url)";
      if (!src.includes(from)) throw new Error(`bundle: ${a.path} no longer has ${from}`);
      return { contents: src.replace(from, "new URL('./vcpu-worker.cjs', import.meta.url)"), loader: 'js' };
    });
  },
};
await build({ ...common, entryPoints: ['dist/src/cli/main.js'], outfile: 'dist/src/cli/hartvisor.js', plugins: [benchOutside, workerCjs] });
await build({ ...common, format: 'cjs', entryPoints: ['dist/src/host/vcpu-worker.js'], outfile: 'dist/src/cli/vcpu-worker.cjs' });
