/** Parser of the `/metrics` resource (GET only: Prometheus text exposition). */
import type { ApiRequest, VmmAction } from '../actions.js';
import { noBody, noQuery } from '../schema.js';

/** `GET /metrics`. */
export function parseGetMetrics(req: ApiRequest): VmmAction {
  noQuery(req.query, 'GET /metrics');
  noBody(req.body, 'GET /metrics');
  return { kind: 'metrics' };
}
