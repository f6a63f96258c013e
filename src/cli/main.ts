#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node --v8-pool-size=1
/**
 * The `hartvisor` executable (package.json "bin"). All logic is in `cli.ts`; this file only wires it to the
 * process: arguments in, exit status out, and no stack trace on stderr for anything that escapes.
 *
 * Node runs it with one V8 helper thread (the first line; `npm run` scripts pass the same flag): V8 optimizes each
 * vCPU thread's JavaScript and compiles its WebAssembly on the helper threads, which then compete with the vCPU
 * threads for the host's cores. With one instead of four, a 4-vCPU Linux boot on a 2-core host took 3-13% less wall
 * time in each of seven sets of alternating boots (bench/README.md, fifteenth session).
 *
 * And without NODE_EXTRA_CA_CERTS: when it is set, Node reads and parses that certificate bundle before the first
 * line of any script (the test host sets it to the system's 140 roots: Node's start-up 48 ms instead of 18). The
 * hypervisor makes no TLS connection, so the command drops it.
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
