/**
 * Strict schemas for request bodies and query strings, checked by hand (no dependency).
 *
 * A schema is plain data whose keywords are OpenAPI's (`type`, `minimum`, `maximum`, `enum`, `minLength`,
 * `maxLength`, `required`), so the test of docs/openapi.yaml can compare the document with the schemas the
 * server really enforces. Every object is closed (OpenAPI `additionalProperties: false`): an unknown field is
 * a 400, as in Firecracker, and the request changes nothing.
 */
import { badRequest } from './errors.js';

/** A whole number in [minimum, maximum]. */
export interface IntegerField {
  readonly type: 'integer';
  readonly minimum: number;
  readonly maximum: number;
  readonly description: string;
}

/** A string, optionally one of `enum`, optionally with a length range. */
export interface StringField {
  readonly type: 'string';
  readonly enum?: readonly string[];
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly description: string;
}

/** true or false. */
export interface BooleanField {
  readonly type: 'boolean';
  readonly description: string;
}

/** One field of a body or one query parameter. */
export type FieldSchema = IntegerField | StringField | BooleanField;

/** A closed JSON object (or a query string): the fields it may have, and those it must have. */
export interface ObjectSchema {
  readonly properties: Readonly<Record<string, FieldSchema>>;
  readonly required: readonly string[];
}

type ValueOf<F> = F extends IntegerField ? number
  : F extends BooleanField ? boolean
  : F extends { readonly enum: readonly (infer E)[] } ? E
  : string;

/** The value a schema accepts, as a TypeScript type (every field optional; `required` is checked at run time). */
export type Parsed<S extends ObjectSchema> = { -readonly [K in keyof S['properties']]?: ValueOf<S['properties'][K]> };

/** "a string", "null", "an array"...: what a JSON value is, for messages. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'object': return 'an object';
    case 'number': return Number.isInteger(value) ? `the integer ${value}` : `the number ${value}`;
    case 'string': return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
    case 'boolean': return `${value}`;
    default: return typeof value;
  }
}

/** Checks one field's JSON value. @throws ApiError bad-request naming the field and what was expected */
function checkField(what: string, name: string, spec: FieldSchema, value: unknown): void {
  const bad = (expected: string) => badRequest(`${what}: '${name}' must be ${expected}, got ${describe(value)}`);
  switch (spec.type) {
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw bad(`an integer from ${spec.minimum} to ${spec.maximum}`);
      if (value < spec.minimum || value > spec.maximum) throw bad(`from ${spec.minimum} to ${spec.maximum}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') throw bad('true or false');
      return;
    case 'string':
      if (typeof value !== 'string') throw bad(spec.enum ? `one of the strings ${spec.enum.join(', ')}` : 'a string');
      if (spec.enum && !spec.enum.includes(value)) throw bad(`one of ${spec.enum.join(', ')}`);
      if (spec.minLength !== undefined && value.length < spec.minLength) throw bad(`at least ${spec.minLength} characters long`);
      if (spec.maxLength !== undefined && value.length > spec.maxLength) {
        throw badRequest(`${what}: '${name}' must be at most ${spec.maxLength} characters long, got ${value.length}`);
      }
      return;
    default: {
      const never: never = spec;
      return never;
    }
  }
}

function checkKnown(what: string, schema: ObjectSchema, key: string, noun: string): void {
  if (!Object.hasOwn(schema.properties, key)) {
    const known = Object.keys(schema.properties);
    throw badRequest(`${what}: unknown ${noun} '${key}' (${known.length ? `known: ${known.join(', ')}` : 'it takes none'})`);
  }
}

function checkRequired(what: string, schema: ObjectSchema, has: (key: string) => boolean): void {
  for (const key of schema.required) if (!has(key)) throw badRequest(`${what}: missing field '${key}'`);
}

/**
 * Validates a parsed JSON body against a closed object schema.
 * @param body the parsed JSON, or undefined when the request had no body
 * @param what names the body in messages ("PUT /vm body")
 * @throws ApiError bad-request: not an object, unknown field, wrong type, out of range, missing field
 */
export function parseObject<S extends ObjectSchema>(body: unknown, schema: S, what: string): Parsed<S> {
  if (body === undefined) {
    if (schema.required.length > 0) throw badRequest(`${what}: a JSON object is required`);
    return {} as Parsed<S>;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest(`${what} must be a JSON object, got ${describe(body)}`);
  }
  const obj = body as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    checkKnown(what, schema, key, 'field');
    checkField(what, key, schema.properties[key], obj[key]);
  }
  checkRequired(what, schema, (key) => Object.hasOwn(obj, key));
  return obj as Parsed<S>;
}

/**
 * Validates a query string against a closed schema, converting the values: integers are plain decimal digits,
 * booleans are `true` or `false`. A parameter given twice is refused (which one would win is not obvious).
 * @throws ApiError bad-request
 */
export function parseQuery<S extends ObjectSchema>(query: URLSearchParams, schema: S, what: string): Parsed<S> {
  const out: Record<string, unknown> = {};
  for (const [key, text] of query) {
    checkKnown(what, schema, key, 'query parameter');
    if (Object.hasOwn(out, key)) throw badRequest(`${what}: '${key}' is given more than once`);
    const spec = schema.properties[key];
    let value: unknown = text;
    if (spec.type === 'integer') value = /^(0|[1-9][0-9]{0,15})$/.test(text) ? Number(text) : text;
    else if (spec.type === 'boolean') value = text === 'true' ? true : text === 'false' ? false : text;
    checkField(what, key, spec, value);
    out[key] = value;
  }
  checkRequired(what, schema, (key) => Object.hasOwn(out, key));
  return out as Parsed<S>;
}

/** Refuses a query string on a route that takes none. @throws ApiError bad-request */
export function noQuery(query: URLSearchParams, what: string): void {
  for (const [key] of query) throw badRequest(`${what}: unknown query parameter '${key}' (it takes none)`);
}

/** Refuses a body on a request that takes none (GET, DELETE). @throws ApiError bad-request */
export function noBody(body: unknown, what: string): void {
  if (body !== undefined) throw badRequest(`${what} takes no body`);
}
