/**
 * What a subcommand is: a name, its help text and a function from arguments to an exit status. `main.ts` keeps
 * the table of them; a new subcommand is one file in `commands/` plus one line there.
 */

/** Where a command writes. The process streams in the real CLI; tests can pass collectors. */
export interface Io {
  /** Writes to stdout as is (guest console output, test lines). */
  out(text: string): void;
  /** Writes to stderr as is. */
  err(text: string): void;
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
