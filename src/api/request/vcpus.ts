/**
 * Parsers of the `/vm/vcpus/{id}` resource: PUT (hot-add), DELETE (hot-remove), GET (state and statistics).
 * The id must be a plain decimal vCPU id; whether it is below the VM's max_vcpus is the controller's to check.
 */
import { MAX_VCPUS_LIMIT } from '../../hv/vm.js';
import type { ApiRequest, VmmAction } from '../actions.js';
import { badRequest } from '../errors.js';
import { noBody, noQuery, parseObject, parseQuery, type ObjectSchema } from '../schema.js';

/** How long the guest gets to start or stop a hart when the request does not say (the library's default). */
export const DEFAULT_HOTPLUG_TIMEOUT_MS = 5000;
/** Longest accepted timeout: ten minutes. */
export const MAX_HOTPLUG_TIMEOUT_MS = 600_000;

const timeoutField = (doing: string) => ({
  type: 'integer', minimum: 0, maximum: MAX_HOTPLUG_TIMEOUT_MS,
  description: `Milliseconds the guest gets to ${doing} (default ${DEFAULT_HOTPLUG_TIMEOUT_MS}).`,
}) as const;

/** The (optional) body of `PUT /vm/vcpus/{id}`. */
export const VCPU_ADD_SCHEMA = {
  properties: { timeout_ms: timeoutField('start the hart') },
  required: [],
} as const satisfies ObjectSchema;

/** The query string of `DELETE /vm/vcpus/{id}`. */
export const VCPU_REMOVE_QUERY_SCHEMA = {
  properties: {
    force: { type: 'boolean', description: 'Unplug by force if the guest has not stopped the hart when the timeout expires (default false).' },
    timeout_ms: timeoutField('stop the hart'),
  },
  required: [],
} as const satisfies ObjectSchema;

/** The `{id}` path segment: a decimal vCPU id from 0 to MAX_VCPUS_LIMIT - 1, without sign or leading zeros. */
export function parseVcpuId(req: ApiRequest): number {
  const text = req.params.id ?? '';
  const id = /^(0|[1-9][0-9]{0,6})$/.test(text) ? Number(text) : NaN;
  if (!(id < MAX_VCPUS_LIMIT)) {
    const shown = text.length > 20 ? `${text.slice(0, 20)}...` : text;
    throw badRequest(`${req.method} ${req.route}: vCPU id must be a whole number from 0 to ${MAX_VCPUS_LIMIT - 1}, got '${shown}'`);
  }
  return id;
}

/** `PUT /vm/vcpus/{id}` with an optional `{"timeout_ms": N}`. */
export function parsePutVcpu(req: ApiRequest): VmmAction {
  const id = parseVcpuId(req);
  noQuery(req.query, 'PUT /vm/vcpus/{id}');
  const v = parseObject(req.body, VCPU_ADD_SCHEMA, 'PUT /vm/vcpus/{id} body');
  return { kind: 'add-vcpu', id, timeoutMs: v.timeout_ms ?? DEFAULT_HOTPLUG_TIMEOUT_MS };
}

/** `DELETE /vm/vcpus/{id}?force=true&timeout_ms=N`. */
export function parseDeleteVcpu(req: ApiRequest): VmmAction {
  const id = parseVcpuId(req);
  const q = parseQuery(req.query, VCPU_REMOVE_QUERY_SCHEMA, 'DELETE /vm/vcpus/{id}');
  noBody(req.body, 'DELETE /vm/vcpus/{id}');
  return { kind: 'remove-vcpu', id, force: q.force ?? false, timeoutMs: q.timeout_ms ?? DEFAULT_HOTPLUG_TIMEOUT_MS };
}

/** `GET /vm/vcpus/{id}`. */
export function parseGetVcpu(req: ApiRequest): VmmAction {
  const id = parseVcpuId(req);
  noQuery(req.query, 'GET /vm/vcpus/{id}');
  noBody(req.body, 'GET /vm/vcpus/{id}');
  return { kind: 'describe-vcpu', id };
}
