// The opener's allow-list: one absolute path or glob per line ('#' starts a
// comment). `*` and `?` match within one path component, `**` across components.
import { readFileSync } from 'node:fs';

export type AllowList = RegExp[];

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[\\^$.|+()[\]{}]/, '\\$&');
  }
  return new RegExp(`^${re}$`, 'u');
}

/** Read the allow-list (a missing file allows nothing); lines that are not absolute are ignored. */
export function readAllowList(file: string | undefined): AllowList {
  if (!file) return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line.startsWith('/'))
    .map(globToRegExp);
}

export function allows(list: AllowList, path: string): boolean {
  return list.some((re) => re.test(path));
}
