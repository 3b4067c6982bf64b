/**
 * The domain: closed lists with their types and type guards (vocabulary.ts), and the records the
 * metadata store holds, as the layers above it see them (records.ts).
 */
export * from './vocabulary.js'
export type * from './records.js'
