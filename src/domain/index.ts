/** The domain vocabulary: closed lists, their types and type guards (see vocabulary.ts). */
export * from './vocabulary.js'
