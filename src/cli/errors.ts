/**
 * Errors the CLI reports as one line on stderr. Each maps to one exit status (see `exitStatusOf`); anything else
 * that reaches the top level is an internal error.
 */
import { ImageError } from '../boot/image-error.js';
import { ExitCode } from './exit-codes.js';

/** A bad command line: unknown command or option, missing or malformed argument. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Input that cannot be used: a missing or unreadable file or directory. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

/** The exit status for an error caught at the top level, and whether it is a hartvisor bug. */
export function exitStatusOf(err: unknown): { status: number; internal: boolean } {
  if (err instanceof UsageError) return { status: ExitCode.USAGE, internal: false };
  if (err instanceof InputError || err instanceof ImageError) return { status: ExitCode.BAD_INPUT, internal: false };
  return { status: ExitCode.INTERNAL, internal: true };
}

/** Squeezes a message onto one line. */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
