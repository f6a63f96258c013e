/**
 * `hartvisor report TRACE [--yield BENCH.json] [-o report.html]`: turns a trace written by `run --trace` (and,
 * optionally, the directed-yield experiment's JSON) into one self-contained HTML page of plots (report/).
 */
import { basename, dirname, extname, join } from 'node:path';
import { BenchFormatError, parseYieldBench } from '../../report/bench-json.js';
import type { YieldResults } from '../../report/bench-json.js';
import { TraceFormatError, readTraceModel, renderReport } from '../../report/report-html.js';
import { expectPositionals, parseCommandLine } from '../args.js';
import type { Command } from '../command.js';
import { InputError, UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { checkOutputFile, readInputFile, writeOutputFile } from '../files.js';

const OPTIONS = {
  yield: { type: 'string' },
  output: { type: 'string', short: 'o' },
} as const;

const HELP = `Usage: hartvisor report TRACE [--yield BENCH.json] [-o REPORT.html]

Writes one self-contained HTML page (inline SVG, nothing loaded from elsewhere)
with plots of the run whose trace is TRACE ('hartvisor run --trace TRACE'):
  - vCPU timeline: each vCPU's state over time (running, spinning, preempted,
    halted, stopped), which vCPU held each CPU slot, hotplug requests;
  - exits, pause-loop exits (spins) and directed yields over time, binned;
  - per-vCPU statistics, when the trace has them;
  - with --yield: lock throughput by overcommit, directed yield off / on / pv,
    per workload, from the directed-yield experiment's JSON
    ('hartvisor bench yield --json > BENCH.json', or
    'npm run bench -- --only yield --json > BENCH.json').

Exit status: 0 written; 103 bad command line; 104 a file that is missing,
unreadable or not in the expected format, or an output that cannot be written.

Options:
  --yield BENCH.json    add the directed-yield throughput plot from this file
  -o, --output FILE     where to write the page (default: TRACE with .html in place
                        of its extension)
  -h, --help            show this help
`;

/** The default output path: beside the trace, `.html` in place of its extension. */
export function defaultReportPath(trace: string): string {
  const ext = extname(trace);
  return join(dirname(trace), `${basename(trace, ext)}.html`);
}

export const reportCommand: Command = {
  name: 'report',
  summary: 'make an HTML page of plots from a trace (run --trace) and the yield experiment\'s JSON',
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseCommandLine('report', args, OPTIONS);
    if (values.help) { io.out(HELP); return ExitCode.OK; }
    const [tracePath] = expectPositionals('report', positionals, ['TRACE']);
    if (values.output !== undefined && values.output.trim() === '') throw new UsageError('--output: expected a file name, got an empty string');
    if (values.yield !== undefined && values.yield.trim() === '') throw new UsageError('--yield: expected a file name, got an empty string');
    const output = values.output ?? defaultReportPath(tracePath);
    if (output === tracePath) throw new UsageError(`the report would overwrite the trace ${tracePath}: give another name with -o`);
    await checkOutputFile(output, '--output');

    const text = new TextDecoder().decode(await readInputFile(tracePath, 'trace'));
    let model;
    try {
      model = readTraceModel(text);
    } catch (err) {
      if (err instanceof TraceFormatError) throw new InputError(`${tracePath}: ${err.message}`);
      throw err;
    }
    let yieldResults: YieldResults | null = null;
    if (values.yield !== undefined) {
      const bench = new TextDecoder().decode(await readInputFile(values.yield, 'benchmark JSON'));
      try {
        yieldResults = parseYieldBench(bench);
      } catch (err) {
        if (err instanceof BenchFormatError) throw new InputError(`${values.yield}: ${err.message}`);
        throw err;
      }
    }
    const html = renderReport(model, yieldResults, { traceName: tracePath, yieldName: values.yield });
    await writeOutputFile(output, html, '--output');
    io.out(`report written to ${output}\n`);
    return ExitCode.OK;
  },
};
