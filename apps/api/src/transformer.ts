/**
 * The one transformer, shared by server and clients: carries Date and bigint exactly, in superjson's
 * wire format. Serializing is done here for the values answers are made of (plain objects, arrays,
 * strings, finite numbers, booleans, null, undefined, valid Dates, bigints, each object once),
 * producing exactly what superjson produces, without its generic walk (an entries array and a
 * closure per property, a registry lookup per value): that walk was the largest single cost of a
 * `wallets.get` in the server's profile. Anything else (a Map, a shared object, -0, a class
 * instance, ...) goes to superjson itself. Deserializing is superjson's, in place: the payload is
 * always freshly parsed JSON, so its deep copy bought nothing.
 */
import superjson from 'superjson';

type Annotation = 'undefined' | 'bigint' | 'Date';
type SuperJSONResult = { json: unknown; meta?: { values: Annotation[] | Record<string, Annotation[]>; v: 1 } };

/** What superjson would walk otherwise: the fast walk gives up on it. */
const GIVE_UP = Symbol('give up');

/** superjson's path escaping: backslashes doubled, dots escaped. */
function escapeKey(key: string): string {
  return key.includes('.') || key.includes('\\') ? key.replace(/\\/g, '\\\\').replace(/\./g, '\\.') : key;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return value !== Object.prototype && (proto === Object.prototype || proto === null);
}

type Annotations = Annotation[] | Record<string, Annotation[]>;

/** The annotations of the value `walk` returned last (undefined: none), nested as superjson nests them. */
let walked: Annotations | undefined;

/**
 * The JSON of `value`, its annotations left in `walked`, built level by level as superjson builds
 * them (so their keys come in the same order, integer-like keys first at each level); GIVE_UP for
 * what this walk does not take.
 */
function walk(value: unknown, seen: Set<unknown>): unknown {
  walked = undefined;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      // NaN, the infinities and -0 are annotated by superjson.
      return Number.isFinite(value) && !Object.is(value, -0) ? value : GIVE_UP;
    case 'undefined':
      walked = ['undefined'];
      return null;
    case 'bigint':
      // superjson tracks bigints as it tracks objects (by value): a repeated one is a referential equality.
      if (seen.has(value)) return GIVE_UP;
      seen.add(value);
      walked = ['bigint'];
      return value.toString();
    case 'object': {
      if (value === null) return null;
      // superjson records every object it meets more than once (referential equalities).
      if (seen.has(value)) return GIVE_UP;
      seen.add(value);
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) return GIVE_UP;
        walked = ['Date'];
        return value.toISOString();
      }
      let inner: Record<string, Annotation[]> | undefined;
      const annotate = (key: string) => {
        const child = walked;
        if (child === undefined) return;
        inner ??= {};
        if (Array.isArray(child)) inner[key] = child;
        else for (const path in child) inner[`${key}.${path}`] = child[path]!;
      };
      if (Array.isArray(value)) {
        const out: unknown[] = new Array(value.length);
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) return GIVE_UP;
          const item = walk(value[i], seen);
          if (item === GIVE_UP) return GIVE_UP;
          out[i] = item;
          annotate(String(i));
        }
        walked = inner;
        return out;
      }
      if (!isPlainObject(value)) return GIVE_UP;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        if (key === '__proto__' || key === 'constructor' || key === 'prototype') return GIVE_UP;
        const item = walk((value as Record<string, unknown>)[key], seen);
        if (item === GIVE_UP) return GIVE_UP;
        out[key] = item;
        annotate(escapeKey(key));
      }
      walked = inner;
      return out;
    }
    default:
      return GIVE_UP;
  }
}

/** superjson.serialize, the same output, faster for the values answers are made of. */
export function serialize(value: unknown): SuperJSONResult {
  const json = walk(value, new Set());
  const values = walked;
  walked = undefined;
  if (json === GIVE_UP) return superjson.serialize(value) as SuperJSONResult;
  return values === undefined ? { json } : { json, meta: { values, v: 1 } };
}

export const transformer = {
  serialize,
  deserialize: <T = unknown>(payload: unknown): T => superjson.deserialize(payload as never, { inPlace: true }) as T,
};
