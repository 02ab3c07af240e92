// Builds the dashboard into dist/ (committed, embedded by dashboard.go):
// dist/index.html plus content-hashed, minified assets under dist/assets/.
// (The API docs page is infra/httpx/docs.html, served by both APIs as is.) The output
// depends only on the sources and package-lock.json, so a rebuild of an
// unchanged tree gives the same bytes.
import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
const assets = join(dist, 'assets');
const base = '/dashboard/assets/';

rmSync(dist, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const result = await esbuild.build({
  entryPoints: [join(here, 'src/main.js')],
  outdir: assets,
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  legalComments: 'none', // third-party licenses go to dist/licenses.txt instead
  banner: { js: '/* fleetpulse dashboard; bundles uPlot (MIT), see /dashboard/licenses.txt */' },
  metafile: true,
  logLevel: 'warning',
});

let js = '';
let css = '';
for (const [out, meta] of Object.entries(result.metafile.outputs)) {
  if (meta.entryPoint && out.endsWith('.js')) js = basename(out);
  if (out.endsWith('.css')) css = basename(out);
}
if (!js || !css) throw new Error(`build produced no ${js ? 'css' : 'js'} bundle`);

const html = readFileSync(join(here, 'src/index.html'), 'utf8').replace('%JS%', base + js).replace('%CSS%', base + css);
writeFileSync(join(dist, 'index.html'), html);

// Licenses of the bundled packages (all runtime dependencies).
const pkg = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'));
const licenses = Object.keys(pkg.dependencies || {}).map((name) => {
  const dir = join(here, 'node_modules', name);
  const version = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
  return `${name}@${version}\n\n${readFileSync(join(dir, 'LICENSE'), 'utf8').trim()}\n`;
});
writeFileSync(join(dist, 'licenses.txt'), licenses.join('\n' + '-'.repeat(72) + '\n\n'));

for (const [out, meta] of Object.entries(result.metafile.outputs)) {
  console.log(`${relative(here, out).padEnd(48)} ${(meta.bytes / 1024).toFixed(1).padStart(7)} KiB`);
}
console.log(`dist/index.html -> ${base}${js}, ${base}${css}`);
