// koffi, the foreign-function interface the sys layer reaches libc and libuv
// through, loaded on the first call that needs it: a native module (~15 ms to load)
// that a process using no system call never pays for. Only src/sys imports this.
import type * as Koffi from 'koffi';

let loaded: typeof Koffi | undefined;

export function ffi(): typeof Koffi {
  return (loaded ??= require('koffi') as typeof Koffi);
}
