/**
 * Process exit statuses of the `hartvisor` command, in one table (also documented in README.md).
 *
 * `hartvisor run` passes the guest's own exit code through (a bare-metal guest's HTIF code; an S-mode guest's SRST
 * shutdown: 0, or 1 for a system failure), so 1..99 belong to the guest and hartvisor's own outcomes sit above
 * them, where a guest cannot produce them by accident. 124 is a timeout, as with timeout(1); 128+N is a run
 * ended by signal N, as shells report it.
 */
export const ExitCode = {
  /** Success: the guest exited with code 0, or every conformance test passed. */
  OK: 0,
  /** `run`: an S-mode guest shut down (SRST) reporting a system failure. */
  GUEST_SYSTEM_FAILURE: 1,
  /** `run`: a guest exit code from 1 to GUEST_MAX is the exit status itself. */
  GUEST_MAX: 99,
  /** `run`: the guest exited with a code above GUEST_MAX (the exact code is printed on stderr). */
  GUEST_CODE_TOO_BIG: 100,
  /** `conformance`, `demo`: at least one test failed. */
  TESTS_FAILED: 101,
  /** `run`: the guest died: a trap loop (a trap whose handler faults at once), a request the host cannot serve, or
   *  (with --on-unsupported stop, the default) a guest kernel instruction or SBI call hartvisor does not implement. */
  GUEST_FAULT: 102,
  /** Bad command line: unknown command or option, missing or malformed argument. */
  USAGE: 103,
  /** Bad input: a file that is missing, unreadable, not a usable RV32 image, or too big for guest RAM. */
  BAD_INPUT: 104,
  /** Internal error of hartvisor (a bug): set HARTVISOR_DEBUG=1 to see the stack trace. */
  INTERNAL: 105,
  /** `run`: every hart of an S-mode guest is stopped (SBI HSM) and none can be started again. */
  GUEST_STALLED: 106,
  /** `run`: the guest was still running when --timeout expired. */
  TIMEOUT: 124,
  /** `run`: stopped by SIGINT (Ctrl-C), or by Ctrl-A x on a terminal. SIGHUP gives 129, SIGTERM 143. */
  INTERRUPTED: 130,
} as const;
export type ExitCodeName = keyof typeof ExitCode;

/** The exit status for a guest's HTIF exit code under `run`. */
export function guestExitStatus(code: number): number {
  return code >= 0 && code <= ExitCode.GUEST_MAX ? code : ExitCode.GUEST_CODE_TOO_BIG;
}
