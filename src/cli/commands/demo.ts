/**
 * `hartvisor demo`: shows the system off on its own. The demo guest (guests/images/demo.bin: harts counting
 * under one lock while harts come and go) boots with more vCPUs than CPU slots and directed yield on; a built-in
 * hotplug schedule adds and removes vCPUs while it runs; then the per-vCPU statistics are printed and a trace
 * (Chrome/Perfetto JSON) and a report page of plots are written.
 *
 * The default run is the deterministic executor (virtual time, the same output for the same seed): about
 * 11 s of guest time, 10-20 s of wall time on a 2-core machine.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { HotplugStep } from '../../hv/vm.js';
import { readTraceModel, renderReport } from '../../report/report-html.js';
import { formatStatsTable } from '../../report/sampler.js';
import { buildChromeTrace, serializeChromeTrace } from '../../report/trace-json.js';
import { expectPositionals, parseCommandLine, parseExecutor, parseSeed } from '../args.js';
import { byteWriter } from '../command.js';
import type { Command } from '../command.js';
import { InputError, UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { checkOutputFile, readInputFile, writeOutputFile } from '../files.js';
import { describeStep, formatStepTime } from '../hotplug-run.js';
import { repoRoot } from '../paths.js';
import { runSmodeGuest } from '../smode.js';

/** The machine of the demo. */
const POSSIBLE_VCPUS = 6;
const BOOT_HARTS = 4;
const CPU_SLOTS = 2;
const DEFAULT_OPS = 2_400_000;
/** Rounds of private work per increment (outside the lock): the harts do more than fight for the lock. */
const WORK = 100;
/**
 * Steps in milliseconds from boot (guest time with the deterministic executor). Hart 0 is the first coordinator
 * of the guest's hotplug handling: removing it makes the guest hand that role to another hart.
 */
const SCHEDULE: readonly HotplugStep[] = [
  { atMs: 1000, op: 'add', id: 4 },
  { atMs: 2000, op: 'add', id: 5 },
  { atMs: 3000, op: 'remove', id: 1 },
  { atMs: 4000, op: 'remove', id: 0 },
  { atMs: 5000, op: 'add', id: 1 },
  { atMs: 6000, op: 'remove', id: 4 },
  { atMs: 7000, op: 'add', id: 0 },
  { atMs: 8000, op: 'remove', id: 5 },
].map((s) => ({ ...s, timeoutMs: 500 } as HotplugStep));

export const DEMO_TRACE = 'demo-trace.json';
export const DEMO_REPORT = 'demo-report.html';

const OPTIONS = {
  'out-dir': { type: 'string' },
  executor: { type: 'string' },
  seed: { type: 'string' },
  ops: { type: 'string' },
} as const;

const HELP = `Usage: hartvisor demo [--out-dir DIR] [--executor deterministic|threads] [--seed N] [--ops N]

Shows hartvisor at work on its own. The demo guest (guests/images/demo.bin)
boots on a VM of ${POSSIBLE_VCPUS} possible vCPUs, ${BOOT_HARTS} of them started at boot, sharing ${CPU_SLOTS} CPU
slots (overcommit), with directed yield on; its harts count to ${DEFAULT_OPS} under one
lock. While it runs, a built-in schedule hot-adds and hot-removes vCPUs
(${SCHEDULE.map((s) => `${formatStepTime(s.atMs)}:${s.op === 'add' ? '+' : '-'}${s.id}`).join(',')}; hart 0, the guest's hotplug
coordinator, is among them). The guest console, one line per hotplug step and
the per-vCPU statistics are printed; then a trace (${DEMO_TRACE}, for
ui.perfetto.dev) and a report page of plots (${DEMO_REPORT}) are written, and
their paths printed.

With the deterministic executor (the default) the run is the same every time
for the same seed: about 11 s of guest time, 10-20 s of wall time on 2 cores.

Exit status: 0 when the guest counted right and every hotplug step succeeded,
101 otherwise; 103 bad command line; 104 a missing demo image or an unwritable
output folder.

Options:
  --out-dir DIR        where to write ${DEMO_TRACE} and ${DEMO_REPORT} (default: the current folder)
  --executor KIND      deterministic (default) or threads (one thread per vCPU; the schedule
                       then runs in wall-clock time)
  --seed N             seed of the deterministic executor (default 1)
  --ops N              the count the harts reach (default ${DEFAULT_OPS}; smaller is shorter: the
                       steps after the end are reported as not carried out)
  -h, --help           show this help
`;

export const demoCommand: Command = {
  name: 'demo',
  summary: 'the tour: an overcommitted VM whose vCPUs come and go, with statistics, a trace and a report page',
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseCommandLine('demo', args, OPTIONS);
    if (values.help) { io.out(HELP); return ExitCode.OK; }
    expectPositionals('demo', positionals, []);
    const executor = values.executor === undefined ? 'deterministic' : parseExecutor(values.executor);
    const seed = values.seed === undefined ? 1 : parseSeed(values.seed);
    let ops = DEFAULT_OPS;
    if (values.ops !== undefined) {
      ops = /^[0-9]+$/.test(values.ops) ? Number(values.ops) : NaN;
      if (!(ops >= 1 && ops <= 1e12)) throw new UsageError(`--ops: expected a whole number from 1 to 1000000000000, got '${values.ops}'`);
    }
    const outDir = resolve(values['out-dir'] ?? '.');
    const tracePath = join(outDir, DEMO_TRACE), reportPath = join(outDir, DEMO_REPORT);
    await checkOutputFile(tracePath, '--out-dir');
    await checkOutputFile(reportPath, '--out-dir');
    const root = repoRoot();
    const imagePath = root ? join(root, 'guests/images/demo.bin') : null;
    if (!imagePath || !existsSync(imagePath)) throw new InputError(`the demo guest ${imagePath ?? 'guests/images/demo.bin'} is missing (build it with 'make -C guests')`);
    const image = await readInputFile(imagePath);
    const bootargs = `demo.ops=${ops} demo.harts=${BOOT_HARTS} demo.work=${WORK} demo.progress_ms=1000`;

    io.out(`hartvisor demo: the demo guest counts to ${ops} under one lock on ${POSSIBLE_VCPUS} possible vCPUs ` +
      `(${BOOT_HARTS} started at boot) sharing ${CPU_SLOTS} CPU slots, directed yield on, ` +
      `${executor === 'deterministic' ? `deterministic executor (seed ${seed}, times in guest time)` : 'threaded executor (times in wall-clock time)'}.\n` +
      `Hotplug schedule: ${SCHEDULE.map((s) => `${formatStepTime(s.atMs)} ${describeStep(s)}`).join(', ')}.\n\n== guest console\n`);

    // The console and hotplug lines share stdout; a hotplug line never glues onto an unfinished console line.
    const write = byteWriter(io);
    let atLineStart = true;
    const steps: string[] = [];
    const started = performance.now();
    const result = await runSmodeGuest(image, {
      memoryMiB: 64,
      maxVcpus: POSSIBLE_VCPUS,
      bootargs,
      executor,
      seed,
      onHartStop: 'destroy',
      sched: { pcpus: CPU_SLOTS, directedYield: 'on' },
      hotplug: {
        steps: SCHEDULE,
        report: (line) => { steps.push(line); io.out(`${atLineStart ? '' : '\n'}hartvisor: ${line}\n`); atLineStart = true; },
      },
      trace: true,
      stats: true,
      onOutput: (bytes) => { write(bytes); if (bytes.length) atLineStart = bytes[bytes.length - 1] === 0x0a; },
      onWarn: (m) => io.err(`hartvisor: warning: ${m}\n`),
      // No console input: the guest reads none, and Ctrl-C should just stop the demo.
    });
    const seconds = (performance.now() - started) / 1000;
    if (!atLineStart) io.out('\n');
    const obs = result.observations!;

    io.out(`\n== per-vCPU statistics (totals over the run; "gone": the vCPU was destroyed)\n${formatStatsTable(obs.rows)}`);

    const outcome = result.reason === 'shutdown' ? `shutdown, exit code ${result.exitCode}` : result.reason === 'fatal' ? `guest fault: ${result.message}` : result.reason;
    const doc = buildChromeTrace(obs.events, {
      executor, clock: executor === 'deterministic' ? 'guest' : 'wall', pcpus: obs.pcpus, maxVcpus: POSSIBLE_VCPUS,
      directedYield: obs.directedYield, pleGap: obs.pleGap, pleWindow: obs.pleWindow,
      seed: executor === 'deterministic' ? seed : undefined, image: 'guests/images/demo.bin', bootargs, endUs: obs.endUs, outcome,
    }, { samples: obs.samples, finalStats: obs.rows });
    const traceText = serializeChromeTrace(doc);
    await writeOutputFile(tracePath, traceText, '--out-dir');
    await writeOutputFile(reportPath, renderReport(readTraceModel(traceText), null, { traceName: DEMO_TRACE }), '--out-dir');
    io.out(`\n== trace and report\n` +
      `trace:  ${tracePath}\n        (${obs.events.length} events: open it at https://ui.perfetto.dev, "Open trace file")\n` +
      `report: ${reportPath}\n        (open it in a web browser: vCPU timeline, exits/spins/yields over time, statistics)\n`);

    const okSteps = steps.filter((l) => l.endsWith(': ok')).length;
    const guestOk = result.reason === 'shutdown' && result.exitCode === 0;
    const allOk = guestOk && okSteps === SCHEDULE.length;
    io.out(`\nhartvisor demo: ${allOk ? 'OK' : 'NOT OK'}: guest ${outcome}, ${okSteps} of ${SCHEDULE.length} hotplug steps ok, ` +
      `${seconds.toFixed(1)} s of wall time${executor === 'deterministic' ? `, ${(obs.endUs / 1e6).toFixed(1)} s of guest time` : ''}\n`);
    if (result.reason === 'stopped') return result.status;
    return allOk ? ExitCode.OK : ExitCode.TESTS_FAILED;
  },
};
