#!/usr/bin/env node
/**
 * The `hartvisor` executable (package.json "bin"). All logic is in `cli.ts`; this file only wires it to the
 * process: arguments in, exit status out, and no stack trace on stderr for anything that escapes.
 */
import { DEBUG_ENV, main } from './cli.js';
import { ExitCode } from './exit-codes.js';

// A closed stdout (`hartvisor ... | head`) is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? ExitCode.OK);
  throw err;
});

// Last line of defence: whatever escapes `main` (an error event, a stray rejection) is one line too.
const fatal = (err: unknown) => {
  const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ');
  const hint = process.env[DEBUG_ENV] === '1' && err instanceof Error ? `\n${err.stack}` : ` (set ${DEBUG_ENV}=1 to see the stack trace)`;
  process.stderr.write(`hartvisor: error: internal error: ${message}${hint}\n`);
  process.exit(ExitCode.INTERNAL);
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

process.exitCode = await main(process.argv.slice(2));
