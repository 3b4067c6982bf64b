/**
 * Builds the example web page (web/) into dist/web: index.html at the root, the bundled script
 * and the stylesheet under app/, as `src/http/web.ts` serves them. The TypeScript is type-checked
 * by `tsc -p web/tsconfig.json` (npm run build runs both); esbuild only bundles it (with the
 * thumbhash decoder). Run: npm run build:web
 */
import { copyFile, mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const WEB = fileURLToPath(new URL('../web/', import.meta.url))

/** Writes the page into `outDir` (default dist/web); tests build into a temporary folder. */
export async function buildWeb(outDir = fileURLToPath(new URL('../dist/web/', import.meta.url))): Promise<string> {
  const out = resolve(outDir)
  await mkdir(join(out, 'app'), { recursive: true })
  await build({
    entryPoints: [join(WEB, 'src/main.ts')],
    outfile: join(out, 'app/app.js'),
    bundle: true,
    format: 'esm',
    target: ['es2022', 'chrome109', 'firefox115', 'safari16'],
    sourcemap: true,
    minify: false,
    legalComments: 'inline',
    logLevel: 'warning',
  })
  await copyFile(join(WEB, 'index.html'), join(out, 'index.html'))
  await copyFile(join(WEB, 'styles.css'), join(out, 'app/styles.css'))
  return out
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await buildWeb(process.argv[2])
  console.log(`web page built into ${out}`)
}
