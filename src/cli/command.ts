/**
 * What a subcommand is: a name, its help text and a function from arguments to an exit status. `main.ts` keeps
 * the table of them; a new subcommand is one file in `commands/` plus one line there.
 */

/** The user's side of a running guest's console: input to push into the guest, and a way to end the run. */
export interface ConsoleLink {
  /** Bytes for the guest's console input (UART RX, SBI getchar). */
  push(bytes: Uint8Array): void;
  /** The user asked to stop the run (a signal, Ctrl-A x): `why` is one line, `status` the exit status to use. */
  stop(why: string, status: number): void;
}

/** Where a command writes. The process streams in the real CLI; tests can pass collectors. */
export interface Io {
  /** Writes to stdout as is (test lines, text output). */
  out(text: string): void;
  /** Writes to stderr as is. */
  err(text: string): void;
  /** Writes raw bytes to stdout (a guest's console). Without it, the bytes are decoded as UTF-8 and go to `out`. */
  outBytes?(bytes: Uint8Array): void;
  /**
   * Connects the process's console input and stop requests to a running guest, for as long as it runs. Returns
   * the function that disconnects (and restores the terminal). Without it, a guest gets no input.
   */
  connectConsole?(link: ConsoleLink): () => void;
  /** True when stderr is a terminal: long commands then show their progress as one line redrawn in place. */
  readonly errIsTty?: boolean;
}

/** One `hartvisor` subcommand. */
export interface Command {
  readonly name: string;
  /** One line for the command list of `hartvisor --help`. */
  readonly summary: string;
  /** The full `--help` text, ending in a newline. */
  readonly help: string;
  /**
   * Runs the command on its arguments (after the command name) and returns the process exit status.
   * Throws UsageError / InputError / ImageError for bad input; `main` prints those as one line.
   */
  run(args: string[], io: Io): Promise<number>;
}

/** A byte writer onto `io`: `io.outBytes` when it has one, else UTF-8 decoding (kept across chunk boundaries). */
export function byteWriter(io: Io): (bytes: Uint8Array) => void {
  if (io.outBytes) return (bytes) => io.outBytes!(bytes);
  const decoder = new TextDecoder('utf-8');
  return (bytes) => { const s = decoder.decode(bytes, { stream: true }); if (s) io.out(s); };
}
