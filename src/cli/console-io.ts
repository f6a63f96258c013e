/**
 * The process side of a guest console (`Io.connectConsole` of the real CLI): stdin feeds the guest's console
 * input when it is a terminal or a pipe, and SIGINT / SIGTERM / SIGHUP end the run cleanly (the VM is closed and
 * the terminal restored) instead of killing the process.
 *
 * On a terminal, stdin is put in raw mode so that every key (Ctrl-C included) reaches the guest, as on a serial
 * line; Ctrl-A x ends the run (Ctrl-A Ctrl-A sends one Ctrl-A). Raw mode is always undone on disconnect. stdin is
 * unref'd, so it never keeps the process alive after the guest is done. A regular file or /dev/null on stdin is
 * not read at all.
 */
import { fstatSync } from 'node:fs';
import { isatty } from 'node:tty';
import type { ConsoleLink } from './command.js';
import { ExitCode } from './exit-codes.js';

/** Ctrl-A, the escape byte on a terminal (as in QEMU's -nographic console). */
const ESCAPE = 0x01;
/** After ESCAPE: end the run. */
const ESCAPE_QUIT = 0x78; // 'x'

/** Exit status of a run ended by the user: 128 + the signal number, as shells report it. */
const SIGNAL_STATUS: Readonly<Partial<Record<NodeJS.Signals, number>>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/** Exit status of a run ended with Ctrl-A x: the same as Ctrl-C would give. */
export const ESCAPE_STATUS = ExitCode.INTERRUPTED;

/** Connects stdin and the stop signals to `link`; returns the disconnect function (idempotent). */
export function connectProcessConsole(link: ConsoleLink): () => void {
  const signalHandlers: [NodeJS.Signals, () => void][] = [];
  for (const [sig, status] of Object.entries(SIGNAL_STATUS) as [NodeJS.Signals, number][]) {
    const handler = () => link.stop(`stopped by ${sig}`, status);
    process.on(sig, handler);
    signalHandlers.push([sig, handler]);
  }
  const disconnectStdin = connectStdin(link);
  let connected = true;
  return () => {
    if (!connected) return;
    connected = false;
    for (const [sig, handler] of signalHandlers) process.off(sig, handler);
    disconnectStdin();
  };
}

/** True when fd 0 is a terminal, a pipe or a socket (the cases where console input makes sense). */
function stdinIsInteractive(): { tty: boolean } | null {
  try {
    if (isatty(0)) return { tty: true };
    const st = fstatSync(0);
    return st.isFIFO() || st.isSocket() ? { tty: false } : null;
  } catch {
    return null; // no stdin at all (closed fd 0)
  }
}

function connectStdin(link: ConsoleLink): () => void {
  const kind = stdinIsInteractive();
  if (!kind) return () => {};
  const stdin = process.stdin;
  const raw = kind.tty && typeof stdin.setRawMode === 'function';
  if (raw) stdin.setRawMode(true);
  let escaped = false;

  const onData = (chunk: Buffer) => {
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (!raw) { link.push(bytes.slice()); return; }
    // Look for Ctrl-A x; pass everything else through (Ctrl-A Ctrl-A is one literal Ctrl-A).
    const out: number[] = [];
    for (const b of bytes) {
      if (escaped) {
        escaped = false;
        if (b === ESCAPE_QUIT) { if (out.length) link.push(Uint8Array.from(out)); link.stop('stopped by Ctrl-A x', ESCAPE_STATUS); return; }
        if (b !== ESCAPE) out.push(ESCAPE);
        out.push(b);
      } else if (b === ESCAPE) {
        escaped = true;
      } else {
        out.push(b);
      }
    }
    if (out.length) link.push(Uint8Array.from(out));
  };
  const onError = () => { /* a broken stdin only means no more input */ };

  stdin.on('data', onData);
  stdin.on('error', onError);
  stdin.resume();
  // A guest that is done must not wait for stdin to close.
  (stdin as { unref?: () => void }).unref?.();

  return () => {
    stdin.off('data', onData);
    stdin.pause();
    if (raw) {
      try { stdin.setRawMode(false); } catch { /* the terminal is gone */ }
    }
    // The error listener stays: a late EIO on a closing terminal must not become an uncaught exception.
  };
}
