/**
 * Progress of long commands (bench, conformance) on stderr. On a terminal it is one line, redrawn in place with
 * the time spent on the current step, and erased before anything else is written; otherwise each step is a plain
 * line (`plain`), or nothing at all when the command's own output already says where it is.
 */
import type { Io } from './command.js';

/** Erase the current terminal line and return to its start. */
const ERASE_LINE = '\r\x1b[2K';

export class Progress {
  private text = '';
  private since = 0;
  private shown = false;
  private ticker: NodeJS.Timeout | undefined;

  /**
   * @param tty redraw one line (stderr is a terminal)
   * @param plain when not a terminal: write each step as a line (`prefix` + text), or else nothing
   */
  constructor(private readonly io: Io, readonly tty: boolean, private readonly plain: boolean, private readonly prefix = 'hartvisor: ') {}

  /** Progress for a command run on `io`: a redrawn line when its stderr is a terminal. */
  static for(io: Io, plain: boolean): Progress {
    return new Progress(io, io.errIsTty === true, plain);
  }

  /** A new step. */
  step(text: string): void {
    this.text = text;
    this.since = performance.now();
    if (!this.tty) {
      if (this.plain) this.io.err(`${this.prefix}${text}\n`);
      return;
    }
    this.draw();
    if (!this.ticker) {
      this.ticker = setInterval(() => this.draw(), 1000);
      this.ticker.unref();
    }
  }

  private draw(): void {
    if (!this.text) return;
    const secs = Math.floor((performance.now() - this.since) / 1000);
    const line = `${this.text}${secs >= 1 ? ` (${secs} s)` : ''}`;
    const width = Math.max(20, (process.stderr.columns || 80) - 1);
    this.io.err(`${ERASE_LINE}${line.length > width ? `${line.slice(0, width - 3)}...` : line}`);
    this.shown = true;
  }

  /** Erases the line (call before writing anything else to the terminal); the next step draws it again. */
  clear(): void {
    if (this.shown) this.io.err(ERASE_LINE);
    this.shown = false;
  }

  /** Writes `text` to stdout on an erased line (the next step, or the next second's redraw, shows it again). */
  out(text: string): void {
    this.clear();
    this.io.out(text);
  }

  /** Done: erases the line and stops redrawing. */
  end(): void {
    clearInterval(this.ticker);
    this.ticker = undefined;
    this.text = '';
    this.clear();
  }
}
