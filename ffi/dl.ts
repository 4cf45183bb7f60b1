/**
 * Binds a library's symbols one by one, on first use. Deno compiles a call trampoline for
 * every symbol it binds (measured 0.13-0.4 ms each here), so binding libnl's ~130 symbols up
 * front would add ~35 ms to every aws-cni run, which uses a third of them. The library itself
 * is mapped once by the dynamic loader; later dlopen calls only take a reference.
 */
export function bindLazily<S extends Deno.ForeignLibraryInterface>(
  path: string,
  table: S,
): Deno.DynamicLibrary<S>["symbols"] {
  const symbols = {} as Record<string, unknown>;
  for (const name of Object.keys(table)) {
    Object.defineProperty(symbols, name, {
      configurable: true,
      enumerable: true,
      get() {
        const one = { [name]: table[name]! } as Deno.ForeignLibraryInterface;
        const fn = Deno.dlopen(path, one).symbols[name];
        Object.defineProperty(symbols, name, { value: fn, enumerable: true });
        return fn;
      },
    });
  }
  return symbols as Deno.DynamicLibrary<S>["symbols"];
}
