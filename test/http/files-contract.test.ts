import { openEmbeddedStorage } from './support/app.js'
import { fileManagerContract, type FilesSubject } from './support/files-contract.js'
import { recordingFiles } from './support/recording-files.js'

/**
 * The routes' view of the files layer, checked on the real one and on the recorder the HTTP tests
 * put in front of it: whatever the HTTP tests see through the recorder is what the real layer does.
 */
async function subject(wrap: (files: FilesSubject['files']) => FilesSubject['files']): Promise<FilesSubject> {
  const embedded = await openEmbeddedStorage()
  const { storage } = embedded
  return {
    files: wrap(storage.files),
    store: storage.store,
    maxBytes: embedded.config.images.maxBytes,
    startWorkers: () => storage.startWorkers(),
    close: () => embedded.close(),
  }
}

fileManagerContract('the files layer (createStorage, embedded)', () => subject((files) => files))
fileManagerContract("the files layer behind the HTTP tests' call recorder", () => subject(recordingFiles))
