// The import graph of src/ (madge): no cycle, and every import points down the
// layers of the design (README, Design), lowest first.
import { join } from 'node:path';

type Graph = { obj(): Record<string, string[]>; circular(): string[][] };
// madge ships no type declarations
const madge = require('madge') as (path: string, config: object) => Promise<Graph>;

const LAYERS = [['sys'], ['namespace', 'path', 'port'], ['io'], ['stream'], ['net'], ['launch'], ['open'], ['handoff', 'sealed'], ['caps'], ['cli']];

/** The layer of a module path relative to src/ (index.ts at the root is above all). */
function layerOf(file: string): number {
  const i = LAYERS.findIndex((group) => group.includes(file.split('/')[0]!));
  return i < 0 ? LAYERS.length : i;
}

/** Import cycles and imports of a higher layer under `dir`. */
async function problems(dir: string, ext: string): Promise<{ cycles: string[][]; upward: string[] }> {
  // mixedImports: a require() that loads a module on first use is an import like any other
  const graph = await madge(dir, { fileExtensions: [ext], tsConfig: join(__dirname, '..', 'tsconfig.json'), detectiveOptions: { ts: { mixedImports: true } } });
  const upward: string[] = [];
  for (const [file, deps] of Object.entries(graph.obj())) {
    for (const dep of deps) if (layerOf(dep) > layerOf(file)) upward.push(`${file} -> ${dep}`);
  }
  return { cycles: graph.circular(), upward };
}

test('src/ has no import cycle and no import against the layer order', async () => {
  expect(await problems(join(__dirname, '..', 'src'), 'ts')).toEqual({ cycles: [], upward: [] });
}, 60_000);

test('the check finds a cycle and imports that point up the layers', async () => {
  const found = await problems(join(__dirname, 'fixtures', 'layers', 'src'), 'js');
  expect(found.cycles).toEqual([['open/api.js', 'stream/conn.js']]);
  expect(found.upward.sort()).toEqual(['stream/conn.js -> open/api.js', 'sys/libc.js -> stream/conn.js']);
}, 60_000);
