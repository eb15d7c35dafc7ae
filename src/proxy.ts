/**
 * Proxies: call an actor's methods as if it were a local object.
 *
 * A typed proxy is a plain object whose prototype holds one function per method of the class
 * (built once per class), so calls cost a normal property lookup. Behind that prototype sits
 * a `Proxy` reached only by names the class lacks: they reject with
 * `PulsingUnsupportedError` without sending anything. An untyped proxy is a `Proxy` that
 * sends any name.
 */
import { ActorRef } from './ref';
import type { CallTarget } from './target';
import type { CallOptions } from './types';
import { CallResult } from './stream';
import { PulsingUnsupportedError } from './errors';
import { checkCallOptions } from './deadline';
import type { ActorClass, AnyCtor } from './remote';

type MethodKeys<T> = {
  [K in keyof T]: K extends `_${string}` | `$${string}` ? never : T[K] extends (...a: any[]) => any ? K : never;
}[keyof T];

// `[R]` keeps a method returning `never` (it always throws) callable: a bare `R` would
// distribute over `never` and erase the method.
type ProxyMethod<F> = F extends (...args: infer A) => infer R
  ? [R] extends [never]
    ? (...args: A) => Promise<never>
    : [R] extends [Generator<infer Y, infer RR, any> | AsyncGenerator<infer Y, infer RR, any>]
      ? (...args: A) => AsyncIterable<Y> & Promise<RR>
      : (...args: A) => Promise<Awaited<R>>
  : never;

/** A typed proxy: every public method of `T`, returning a Promise (or a stream for generators). */
export type ActorProxy<T> = { [K in MethodKeys<T>]: ProxyMethod<T[K]> } & {
  /** The underlying ref. */
  readonly $ref: ActorRef;
  /** The same proxy with per-call options. */
  $with(opts: CallOptions): ActorProxy<T>;
};

/** An untyped proxy: any method name, each result awaitable and `for await`-able. */
export type AnyProxy = {
  readonly $ref: ActorRef;
  $with(opts: CallOptions): AnyProxy;
} & { [method: string]: any };

const OPTS = Symbol('pulsing.opts');
const TARGET = Symbol('pulsing.target');
const REF = Symbol('pulsing.ref');

/** Names a proxy never treats as methods (promise adoption, JSON, inspection). */
function notAMethod(key: string | symbol): boolean {
  return typeof key !== 'string' || key === 'then' || key === 'toJSON' || key === 'constructor' || key === 'asymmetricMatch';
}

/** Method table of a class: name → whether it streams. Built once per class. */
export function methodKinds(cls: AnyCtor): Map<string, 'value' | 'stream'> {
  const out = new Map<string, 'value' | 'stream'>();
  for (let p = cls.prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) {
      if (out.has(name) || name === 'constructor' || name === 'onStart' || name === 'onStop') continue;
      if (name.startsWith('_') || name.startsWith('$')) continue;
      const d = Object.getOwnPropertyDescriptor(p, name);
      if (!d || typeof d.value !== 'function') continue;
      const ctor = (d.value as { constructor?: { name?: string } }).constructor?.name;
      out.set(name, ctor === 'GeneratorFunction' || ctor === 'AsyncGeneratorFunction' ? 'stream' : 'value');
    }
  }
  return out;
}

type ProxyCtor = new (target: CallTarget, opts: CallOptions | undefined, ref: ActorRef | undefined) => object;
const ctorCache = new WeakMap<object, ProxyCtor>();

/** A constructor per class gives every proxy of it one fixed shape (fast property access). */
function typedCtor(cls: ActorClass<AnyCtor>): ProxyCtor {
  let ctor = ctorCache.get(cls);
  if (ctor) return ctor;
  // The ref is made when `$ref` is first read: a spawned actor whose proxy never shows its
  // ref keeps one object fewer alive. A class, not a function with `this[k] = v`: its fields
  // are defined on the new object without a look up the prototype chain, which ends in a
  // `Proxy` and made each proxy about four times as slow to build.
  class TypedProxy {
    [TARGET]: CallTarget;
    [OPTS]: CallOptions | undefined;
    [REF]: ActorRef | undefined;
    constructor(target: CallTarget, opts: CallOptions | undefined, ref: ActorRef | undefined) {
      this[TARGET] = target;
      this[OPTS] = opts;
      this[REF] = ref;
    }
  }
  Reflect.deleteProperty(TypedProxy.prototype, 'constructor'); // a proxy shows the actor's methods only
  Object.setPrototypeOf(TypedProxy.prototype, typedProto(cls));
  const Ctor = TypedProxy as ProxyCtor;
  ctorCache.set(cls, Ctor);
  return Ctor;
}

function typedProto(cls: ActorClass<AnyCtor>): object {
  const fallback = new Proxy(Object.create(null) as object, {
    get(_t, key) {
      if (notAMethod(key)) return undefined;
      return () => Promise.reject(new PulsingUnsupportedError(`${cls.className} has no method ${String(key)}()`));
    },
  });
  const p = Object.create(fallback) as Record<string, unknown>;
  // Every promise resolved with a proxy (each spawn's) reads `then`: answered here, it never
  // reaches the fallback's trap.
  if (!cls.methods.has('then')) p.then = undefined;
  for (const [name, kind] of cls.methods) {
    p[name] = kind === 'stream'
      ? function (this: Record<symbol, unknown>, ...args: unknown[]) {
        return new CallResult((this[TARGET] as CallTarget).call(name, args, this[OPTS] as CallOptions | undefined));
      }
      : function (this: Record<symbol, unknown>, ...args: unknown[]) {
        return (this[TARGET] as CallTarget).call(name, args, this[OPTS] as CallOptions | undefined);
      };
  }
  Object.defineProperty(p, '$ref', {
    get(this: Record<symbol, unknown>) {
      return (this[REF] ??= new ActorRef(this[TARGET] as CallTarget));
    },
  });
  p.$with = function (this: { $ref: ActorRef; [OPTS]?: CallOptions }, opts: CallOptions) {
    checkCallOptions(opts, '$with');
    return typedProxy(this.$ref, cls, { ...this[OPTS], ...opts });
  };
  return p;
}

/** A typed proxy over `ref` for an actor class. */
export function typedProxy<C extends AnyCtor>(ref: ActorRef, cls: ActorClass<C>, opts: CallOptions | undefined): ActorProxy<InstanceType<C>> {
  const Ctor = typedCtor(cls as unknown as ActorClass<AnyCtor>);
  return new Ctor(ref.target, opts, ref) as ActorProxy<InstanceType<C>>;
}

/** A typed proxy straight over `target` (its ref made only if asked for). */
export function typedProxyOf<C extends AnyCtor>(target: CallTarget, cls: ActorClass<C>): ActorProxy<InstanceType<C>> {
  const Ctor = typedCtor(cls as unknown as ActorClass<AnyCtor>);
  return new Ctor(target, undefined, undefined) as ActorProxy<InstanceType<C>>;
}

/** An untyped proxy over `ref`. */
export function anyProxy(ref: ActorRef, opts: CallOptions | undefined): AnyProxy {
  const cache = new Map<string, (...args: unknown[]) => CallResult>();
  return new Proxy(Object.create(null) as AnyProxy, {
    get(_t, key) {
      if (key === '$ref') return ref;
      if (key === '$with') {
        return (o: CallOptions) => {
          checkCallOptions(o, '$with');
          return anyProxy(ref, { ...opts, ...o });
        };
      }
      if (notAMethod(key)) return undefined;
      const name = key as string;
      let f = cache.get(name);
      if (!f) {
        f = (...args: unknown[]) => new CallResult(ref.target.call(name, args, opts));
        cache.set(name, f);
      }
      return f;
    },
  });
}
