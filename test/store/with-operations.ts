/** Test doubles of stores: a real store with some operations replaced. */
import type { Concern, Store } from '../../src/store/store';

/** `store` with some operations of its concerns replaced; the others run on the store's own. */
export function withOperations(store: Store, replaced: { [C in Concern]?: Partial<Store[C]> }): Store {
  return new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      const ops = replaced[name as Concern];
      if (!ops || typeof value !== 'object' || value === null) return value;
      return new Proxy(value, {
        get(concern, op, r) {
          if (op in ops) return (ops as Record<string | symbol, unknown>)[op];
          const v = Reflect.get(concern, op, r) as unknown;
          return typeof v === 'function' ? v.bind(concern) : v;
        },
      });
    },
  });
}
