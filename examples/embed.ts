/**
 * localex-storage embedded in an app, without HTTP: `npx tsx examples/embed.ts [photo.jpg]`.
 * Runs on the embedded default (disk store, SQLite, in-process queue) in a temp folder, so it
 * touches nothing else; set S3_BUCKET / DATABASE_URL / REDIS_URL to run it on production engines.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createStorage, ensureGeneratedSecrets, loadConfig } from '../src/index.js'

const photo =
  process.argv[2] ?? new URL('../test/fixtures/images/jpeg-exif-orientation-6-landscape.jpg', import.meta.url).pathname
const dataDir = mkdtempSync(join(tmpdir(), 'localex-example-'))
const env = { DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...process.env }
// Generates the secrets nobody configured into DATA_DIR once (loadConfig itself never writes).
ensureGeneratedSecrets(env)
const storage = await createStorage(loadConfig(env))
try {
  const alice = { id: 'alice', role: 'user' } as const
  const uploaded = await storage.files.uploadItemPhoto(alice, 'item-42', {
    body: readFileSync(photo),
    fileName: 'sofa.jpg',
  })
  console.log(
    `uploaded ${uploaded.id}: ${uploaded.status}, ${uploaded.width}×${uploaded.height}, placeholder ` +
      `${uploaded.placeholder?.slice(0, 12)}…`,
  )
  const ready = await storage.files.waitUntilSettled(uploaded.id)
  for (const v of ready.variants)
    console.log(
      `${v.variant.padEnd(9)} ${v.format.padEnd(4)} ${`${v.width}×${v.height}`.padEnd(9)} ` +
        `${String(v.size).padStart(8)} B  ${v.url}`,
    )
  // Anyone may list an item's photos; only the owner (or an admin) may delete them.
  await storage.files
    .deleteFile({ id: 'bob', role: 'user' }, ready.id)
    .catch((e: { code: string }) => console.log(`bob may not delete it: ${e.code}`))
  await storage.files.deleteFile(alice, ready.id)
  console.log(`deleted; item-42 has ${(await storage.files.listItemPhotos('item-42')).length} photos`)
} finally {
  await storage.close()
  rmSync(dataDir, { recursive: true, force: true })
}
