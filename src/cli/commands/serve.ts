/**
 * `hartvisor serve --socket PATH | --port N`: the REST API (src/api) for one VM, Firecracker style: the
 * process starts with no VM, a client configures and boots one with `PUT /vm`, steers it, and shuts it down.
 * The guest's console goes to stdout. SIGINT or SIGTERM shuts the VM down, closes the server, removes the
 * socket and exits with status 0.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { ApiController } from '../../api/controller.js';
import { closeServer, createApiServer, listen, type ListenAddress } from '../../api/server.js';
import { expectPositionals, parseCommandLine } from '../args.js';
import { byteWriter } from '../command.js';
import type { Command } from '../command.js';
import { InputError, UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';

const HELP = `Usage: hartvisor serve --socket PATH
       hartvisor serve --port N

Serves the hartvisor REST API (docs/openapi.yaml) for one VM, on a Unix socket
or on TCP 127.0.0.1 port N (0: any free port; the port is printed on stderr).
The process starts with no VM; a client configures and boots one:

  curl --unix-socket PATH -X PUT http://localhost/vm \\
       -d '{"image": "guests/images/demo.bin", "vcpus": 2, "max_vcpus": 4}'

Resources: /vm (PUT boot, GET state, PATCH pause/resume, DELETE shut down),
/vm/vcpus/{id} (PUT hot-add, GET state and statistics, DELETE hot-remove,
?force=true&timeout_ms=N), /metrics (Prometheus text format). Errors are
answered with a status and {"fault_message": "..."}.

The guest's console output goes to stdout. SIGINT or SIGTERM shuts the VM
down, removes the socket and exits with status 0. Exit status 103 for a bad
command line, 104 when the socket path exists or the address cannot be used.

Options:
  --socket PATH   listen on a Unix socket at PATH (which must not exist)
  --port N        listen on TCP 127.0.0.1:N instead, 0-65535
  -h, --help      show this help
`;

const OPTIONS = {
  socket: { type: 'string' },
  port: { type: 'string' },
} as const;

/** `--socket PATH` or `--port N`, exactly one. @throws UsageError */
export function parseServeArgs(args: string[]): ListenAddress | 'help' {
  const { values, positionals } = parseCommandLine('serve', args, OPTIONS);
  if (values.help) return 'help';
  expectPositionals('serve', positionals, []);
  if (values.socket !== undefined && values.port !== undefined) throw new UsageError('--socket and --port cannot be used together');
  if (values.socket !== undefined) {
    if (values.socket === '') throw new UsageError('--socket: expected a path');
    return { socket: values.socket };
  }
  if (values.port !== undefined) {
    const n = /^[0-9]{1,5}$/.test(values.port) ? Number(values.port) : NaN;
    if (!(n >= 0 && n <= 65535)) throw new UsageError(`--port: expected a port number from 0 to 65535, got '${values.port}'`);
    return { port: n };
  }
  throw new UsageError("missing --socket PATH or --port N (see 'hartvisor serve --help')");
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve the REST API for one VM on a Unix socket (or TCP 127.0.0.1)',
  help: HELP,
  async run(args, io) {
    const where = parseServeArgs(args);
    if (where === 'help') { io.out(HELP); return ExitCode.OK; }
    if ('socket' in where && existsSync(where.socket)) {
      throw new InputError(`${where.socket}: exists already (remove it, or choose another path)`);
    }
    const controller = new ApiController({
      onOutput: byteWriter(io),
      onWarn: (message) => io.err(`hartvisor: warning: ${message}\n`),
    });
    const server = createApiServer({ controller });
    let address: string;
    try {
      address = await listen(server, where);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const what = 'socket' in where ? where.socket : `127.0.0.1:${where.port}`;
      throw new InputError(`${what}: cannot listen (${e.code ?? e.message})`);
    }
    io.err(`hartvisor: API server listening on ${address}\n`);
    const signal = await new Promise<string>((resolve) => {
      const on = (s: NodeJS.Signals) => { process.off('SIGINT', on); process.off('SIGTERM', on); resolve(s); };
      process.on('SIGINT', on);
      process.on('SIGTERM', on);
    });
    io.err(`hartvisor: ${signal}: shutting down\n`);
    await controller.close();
    await closeServer(server);
    if ('socket' in where) {
      try { unlinkSync(where.socket); } catch { /* already gone */ }
    }
    return ExitCode.OK;
  },
};
