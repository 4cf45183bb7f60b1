import { bindLazily } from "./dl.ts";

/**
 * libc symbols (glibc 2.36, Debian 12), bound on first use. Symbol table only: the safe
 * wrappers live in netns.ts and sysctl.ts. `open` is declared without its variadic mode
 * argument; files are created with `mknod`, which is not variadic.
 */

export const libcSymbols = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  fstat: { parameters: ["i32", "buffer"], result: "i32" },
  ioctl: { parameters: ["i32", "u64"], result: "i32" },
  mkdir: { parameters: ["buffer", "u32"], result: "i32" },
  mknod: { parameters: ["buffer", "u32", "u64"], result: "i32" },
  unlink: { parameters: ["buffer"], result: "i32" },
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "pointer"], result: "i32" },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  unshare: { parameters: ["i32"], result: "i32" },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  strerrorname_np: { parameters: ["i32"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

let lib: Deno.DynamicLibrary<typeof libcSymbols>["symbols"] | undefined;

/** The libc symbols, each bound on first use (see dl.ts). */
export function libc(): Deno.DynamicLibrary<typeof libcSymbols>["symbols"] {
  if (!lib) {
    lib = bindLazily("libc.so.6", libcSymbols);
    // Bound now: binding it (dlopen) right after a failed call could overwrite that errno.
    void lib.__errno_location;
  }
  return lib;
}
