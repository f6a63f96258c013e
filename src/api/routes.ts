/**
 * The route table: every path, its methods, the parser of each, and the statuses each can answer. The server
 * routes with it, and the test of docs/openapi.yaml checks the document against it, so the two cannot drift.
 */
import type { ApiRequest, VmmAction } from './actions.js';
import { parseGetMetrics } from './request/metrics.js';
import { parseDeleteVcpu, parseGetVcpu, parsePutVcpu } from './request/vcpus.js';
import { parseDeleteVm, parseGetVm, parsePatchVm, parsePutVm } from './request/vm.js';

/** The HTTP methods the API uses. */
export type Method = 'GET' | 'PUT' | 'PATCH' | 'DELETE';

/** One method of one route. */
export interface Operation {
  /** Turns the request into an action. @throws ApiError bad-request */
  readonly parse: (req: ApiRequest) => VmmAction;
  /** The HTTP statuses this operation can answer (besides 500, an internal error), for the OpenAPI check. */
  readonly statuses: readonly number[];
}

/** One resource path and what can be done to it. */
export interface Route {
  /** OpenAPI path template: literal segments and `{name}` parameters, e.g. `/vm/vcpus/{id}`. */
  readonly path: string;
  readonly methods: Readonly<Partial<Record<Method, Operation>>>;
}

/** Every request can be refused for its body (400 malformed or unexpected, 413 too large). */
const BODY = [400, 413] as const;

/** Every route of the API (docs/openapi.yaml describes exactly these). */
export const ROUTES: readonly Route[] = [
  {
    path: '/vm',
    methods: {
      PUT: { parse: parsePutVm, statuses: [204, ...BODY, 409] },
      GET: { parse: parseGetVm, statuses: [200, ...BODY] },
      PATCH: { parse: parsePatchVm, statuses: [204, ...BODY, 409] },
      DELETE: { parse: parseDeleteVm, statuses: [204, ...BODY, 409] },
    },
  },
  {
    path: '/vm/vcpus/{id}',
    methods: {
      PUT: { parse: parsePutVcpu, statuses: [204, ...BODY, 409, 504] },
      GET: { parse: parseGetVcpu, statuses: [200, ...BODY, 404, 409] },
      DELETE: { parse: parseDeleteVcpu, statuses: [204, ...BODY, 404, 409, 504] },
    },
  },
  {
    path: '/metrics',
    methods: {
      GET: { parse: parseGetMetrics, statuses: [200, ...BODY] },
    },
  },
];

/** A path matched against the table. */
export interface RouteMatch {
  readonly route: Route;
  readonly params: Readonly<Record<string, string>>;
}

/**
 * Finds the route of a URL path (no query string). Segments match literally, `{name}` matches any one non-empty
 * segment (percent-decoded). Returns null when no route has this shape: a 404.
 */
export function matchRoute(pathname: string, routes: readonly Route[] = ROUTES): RouteMatch | null {
  const segs = pathname.split('/');
  for (const route of routes) {
    const tmpl = route.path.split('/');
    if (tmpl.length !== segs.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < tmpl.length && ok; i++) {
      const t = tmpl[i];
      if (t.startsWith('{') && t.endsWith('}')) {
        if (segs[i] === '') { ok = false; break; }
        let value: string;
        try { value = decodeURIComponent(segs[i]); } catch { value = segs[i]; }
        params[t.slice(1, -1)] = value;
      } else {
        ok = t === segs[i];
      }
    }
    if (ok) return { route, params };
  }
  return null;
}

/** The methods a route allows, for a 405's `Allow` header. */
export function allowedMethods(route: Route): Method[] {
  return Object.keys(route.methods) as Method[];
}
