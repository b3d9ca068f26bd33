// The public API is the explicit lists in src/index.ts and src/low-level.ts: what the
// built package exports at run time is exactly their values, nothing reaches them
// through `export *`, and the README documents every name, so neither can drift.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const ENTRIES = { '.': 'src/index', './low-level': 'src/low-level' } as const;

/** The names a module's `export { ... } from` lists give, split into values and types. */
function listed(file: string): { values: string[]; types: string[] } {
  const src = readFileSync(join(ROOT, `${file}.ts`), 'utf8');
  const values: string[] = [];
  const types: string[] = [];
  for (const [, list] of src.matchAll(/export\s*\{([^}]*)\}/g)) {
    for (const spec of list.split(',').map((s) => s.replace(/\/\/.*$/gm, '').trim()).filter(Boolean)) {
      const name = spec.split(/\s+as\s+/).pop()!.replace(/^type\s+/, '');
      (spec.startsWith('type ') ? types : values).push(name);
    }
  }
  for (const [, name] of src.matchAll(/export\s+(?:const|function|class)\s+(\w+)/g)) values.push(name);
  // `export let a: T, b: U;`: values defined when first read (src/exports.ts)
  for (const [, decls] of src.matchAll(/export\s+let\s+([^;]+);/g)) values.push(...[...decls.matchAll(/(\w+)\s*:/g)].map((m) => m[1]!));
  return { values, types };
}

describe.each(Object.entries(ENTRIES))('the %s entry point', (entry, file) => {
  const { values, types } = listed(file);

  test('lists its names one by one: no `export *`', () => {
    expect(readFileSync(join(ROOT, `${file}.ts`), 'utf8')).not.toMatch(/export\s*\*/);
    expect(values.length).toBeGreaterThan(0);
  });

  test('exports at run time exactly the values it lists, as package.json maps it', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    const target = pkg.exports[entry].default as string;
    expect(target).toBe(`./dist/${file}.js`);
    expect(pkg.exports[entry].types).toBe(`./dist/${file}.d.ts`);
    const mod = require(join(ROOT, target));
    expect(Object.keys(mod).filter((k) => k !== '__esModule').sort()).toEqual([...values].sort());
    expect(values.filter((k) => mod[k] === undefined)).toEqual([]);
  });

  test('has a README entry for every name it exports', () => {
    // in code: a span (`name(...)`, `opts?: Type`) or a fenced block
    const code = [...README.matchAll(/```[^]*?```|`[^`\n]+`/g)].map((m) => m[0]);
    const missing = [...values, ...types].filter((n) => !code.some((c) => new RegExp(`\\b${n}\\b`).test(c)));
    expect(missing).toEqual([]);
  });
});

test('the root and low-level share no name (the raw sendmsg is not Connection.sendFds)', () => {
  const root = listed(ENTRIES['.']);
  const low = listed(ENTRIES['./low-level']);
  const rootNames = new Set([...root.values, ...root.types]);
  expect([...low.values, ...low.types].filter((n) => rootNames.has(n))).toEqual([]);
});
