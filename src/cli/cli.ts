/**
 * The `hartvisor` command line: the table of subcommands, top-level help, and the one place where errors become a
 * single stderr line (`hartvisor: error: ...`) and an exit status. `main.ts` is the executable wrapper around it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command, Io } from './command.js';
import { benchCommand } from './commands/bench.js';
import { conformanceCommand } from './commands/conformance.js';
import { demoCommand } from './commands/demo.js';
import { connectProcessConsole } from './console-io.js';
import { reportCommand } from './commands/report.js';
import { runCommand } from './commands/run.js';
import { serveCommand } from './commands/serve.js';
import { UsageError, exitStatusOf, oneLine } from './errors.js';
import { ExitCode } from './exit-codes.js';
import { repoRoot } from './paths.js';

/** Every subcommand, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [runCommand, conformanceCommand, demoCommand, serveCommand, benchCommand, reportCommand];

/** Set to 1 to get stack traces of internal errors. */
export const DEBUG_ENV = 'HARTVISOR_DEBUG';

/** Io on the process streams. */
export const processIo: Io = {
  out: (text) => { process.stdout.write(text); },
  err: (text) => { process.stderr.write(text); },
  outBytes: (bytes) => { process.stdout.write(bytes); },
  connectConsole: connectProcessConsole,
  errIsTty: process.stderr.isTTY === true,
};

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: hartvisor COMMAND [ARGS...]

hartvisor runs RISC-V RV32 guests on its own execution engine.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run 'hartvisor COMMAND --help' for the options of a command.
Other options: -h, --help (this help), --version.
Set ${DEBUG_ENV}=1 for stack traces of internal errors.
`;
}

function version(): string {
  const root = repoRoot();
  try {
    return root ? (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Runs one command line (without `node` and the script) and returns the exit status. Never throws. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const [first, ...rest] = argv;
    if (first === undefined) throw new UsageError("missing command (see 'hartvisor --help')");
    if (first === '-h' || first === '--help') { io.out(topHelp()); return ExitCode.OK; }
    if (first === '--version') { io.out(`hartvisor ${version()}\n`); return ExitCode.OK; }
    if (first === 'help') {
      if (rest.length === 0) { io.out(topHelp()); return ExitCode.OK; }
      const cmd = COMMANDS.find((c) => c.name === rest[0]);
      if (!cmd || rest.length > 1) throw new UsageError(`no help for '${rest.join(' ')}' (see 'hartvisor --help')`);
      io.out(cmd.help);
      return ExitCode.OK;
    }
    const cmd = COMMANDS.find((c) => c.name === first);
    if (!cmd) {
      const what = first.startsWith('-') ? 'option' : 'command';
      throw new UsageError(`unknown ${what} '${first}' (see 'hartvisor --help')`);
    }
    return await cmd.run(rest, io);
  } catch (err) {
    const { status, internal } = exitStatusOf(err);
    const message = oneLine(err instanceof Error ? err.message : String(err));
    if (!internal) {
      io.err(`hartvisor: error: ${message}\n`);
    } else if (process.env[DEBUG_ENV] === '1') {
      io.err(`hartvisor: error: internal error: ${message}\n${err instanceof Error ? err.stack ?? '' : ''}\n`);
    } else {
      io.err(`hartvisor: error: internal error: ${message} (set ${DEBUG_ENV}=1 to see the stack trace)\n`);
    }
    return status;
  }
}
