// The public names of an entry point, each a getter that loads its module on first
// use: requiring the package compiles no module until one of its names is read.
// The entry point declares every name with `export let` (its type, and the name
// Node's CommonJS lexer finds for `import { name }`); this defines what it reads.

/**
 * Define `names` on `target` as getters of the module `load()` returns, loaded once, on
 * first read; a name read once becomes a plain value, so that `cs.cssend(...)` in a
 * loop costs no getter call.
 */
export function exportOnUse<M>(target: object, load: () => M, names: readonly (keyof M & string)[]): void {
  let mod: M | undefined;
  for (const name of names) {
    Object.defineProperty(target, name, {
      enumerable: true,
      configurable: true,
      get: () => {
        const value = (mod ??= load())[name];
        Object.defineProperty(target, name, { value, enumerable: true });
        return value;
      },
    });
  }
}
