/**
 * File access for the CLI with one-line errors: a missing or unreadable path becomes an `InputError` that names
 * it, never a raw errno exception with a stack.
 */
import { constants } from 'node:fs';
import { access, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { InputError } from './errors.js';

/** Largest file read as a guest image (guest RAM is below 2 GiB; ELF files may carry a little more). */
const MAX_IMAGE_FILE = 0x7fff_ffff;

/** Reads a whole file; `what` names it in messages ("image", "test image"). */
export async function readInputFile(path: string, what = 'image'): Promise<Uint8Array> {
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw new InputError(`${path}: is a directory, expected ${what === 'image' ? 'an' : 'a'} ${what} file`);
    if (!st.isFile()) throw new InputError(`${path}: not a regular file, expected ${what === 'image' ? 'an' : 'a'} ${what} file`);
    if (st.size > MAX_IMAGE_FILE) throw new InputError(`${path}: ${st.size} bytes is too large for a ${what}`);
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw asInputError(err, path, what);
  }
}

/** Lists a directory's entry names, sorted (code-unit order, so the result does not depend on the locale). */
export async function listDirectory(path: string): Promise<string[]> {
  try {
    const st = await stat(path);
    if (!st.isDirectory()) throw new InputError(`${path}: not a directory`);
    return (await readdir(path)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  } catch (err) {
    throw asInputError(err, path, 'directory');
  }
}

/**
 * Checks, before a long run, that `path` can be written later: its folder exists and is writable, and the path
 * is not a folder. `option` names the option in messages ("--trace").
 */
export async function checkOutputFile(path: string, option: string): Promise<void> {
  const dir = dirname(resolve(path));
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw new InputError(`${option}: ${path} is a directory, expected a file name`);
  } catch (err) {
    if (err instanceof InputError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new InputError(`${option}: cannot write ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    if (!(await stat(dir)).isDirectory()) throw new InputError(`${option}: cannot write ${path}: ${dir} is not a directory`);
    await access(dir, constants.W_OK);
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InputError(`${option}: cannot write ${path}: no such directory ${dir}`);
    throw new InputError(`${option}: cannot write ${path}: ${code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code ?? String(err)}`);
  }
}

/** Writes a whole text file; a failure is one InputError line naming `option` and the path. */
export async function writeOutputFile(path: string, text: string, option: string): Promise<void> {
  try {
    await writeFile(path, text);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`${option}: cannot write ${path}: ${code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code ?? String(err)}`);
  }
}

function asInputError(err: unknown, path: string, what: string): InputError {
  if (err instanceof InputError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT': return new InputError(`${path}: no such file or directory`);
    case 'EACCES':
    case 'EPERM': return new InputError(`${path}: permission denied`);
    case 'ENOTDIR': return new InputError(`${path}: a component of the path is not a directory`);
    case 'EISDIR': return new InputError(`${path}: is a directory, expected ${what === 'image' ? 'an' : 'a'} ${what} file`);
    case 'ELOOP': return new InputError(`${path}: too many levels of symbolic links`);
    default: return new InputError(`${path}: cannot read ${what} (${code ?? (err instanceof Error ? err.message : String(err))})`);
  }
}
