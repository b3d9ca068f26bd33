// The public API from a CommonJS file, by package name: checked by tsc, never run.
import cs = require('connect-stream');

export function serve(path: string): number {
  return cs.csopen(path, cs.CS_OPEN_CREATE);
}
export function take(fd: number): number[] {
  const { id, fds } = cs.csrecv(fd, 4);
  return [id.uid, ...fds];
}
// @ts-expect-error a path is a string
cs.csopen(42);
