import {
  ACCESS_LEVELS,
  DOCUMENT_TYPES,
  ENTITY_TYPES,
  FILE_STATUSES,
  FORMAT_NAMES,
  PURPOSES,
  STORED_FORMATS,
} from '../domain/index.js'

/**
 * JSON schemas of the API: request validation (Ajv, through Fastify), response serialisation and
 * the OpenAPI document come from these same objects. Shared ones have an `$id` and are added to
 * the app once (`SHARED_SCHEMAS`); routes refer to them as `{ $ref: 'FileView#' }`.
 */

/** Ids that become key segments: same rule as `assertSafeId` in src/storage/keys.ts. */
export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$'
export const idString = (description: string) => ({ type: 'string', pattern: ID_PATTERN, description }) as const

const nullable = (type: string, extra: Record<string, unknown> = {}) => ({ type: [type, 'null'], ...extra })

export const FileVariantViewSchema = {
  $id: 'FileVariant',
  type: 'object',
  properties: {
    variant: { type: 'string', example: 'thumbnail' },
    format: { type: 'string', enum: STORED_FORMATS, example: 'webp' },
    contentType: { type: 'string', example: 'image/webp' },
    width: { type: 'integer' },
    height: { type: 'integer' },
    size: { type: 'integer', description: 'Bytes.' },
    url: { type: 'string', description: 'Absent when the file needs a signed URL: ask GET /v1/files/{id}/url.' },
  },
  required: ['variant', 'format', 'contentType', 'size'],
} as const

export const FileViewSchema = {
  $id: 'FileView',
  type: 'object',
  description: 'A stored file: metadata, status, and the URLs the caller may use.',
  properties: {
    id: { type: 'string' },
    ownerId: { type: 'string' },
    entityType: { type: 'string', enum: ENTITY_TYPES },
    entityId: { type: 'string' },
    purpose: { type: 'string', enum: PURPOSES },
    documentType: nullable('string', { enum: [...DOCUMENT_TYPES, null] }),
    accessLevel: { type: 'string', enum: ACCESS_LEVELS },
    status: {
      type: 'string',
      enum: FILE_STATUSES,
      description: '`processing` until the variants are made, then `ready` (or `failed`).',
    },
    originalName: { type: 'string', description: 'Normalised display name; never a path.' },
    contentType: { type: 'string' },
    bytes: { type: 'integer' },
    width: nullable('integer'),
    height: nullable('integer'),
    sha256: { type: 'string' },
    placeholder: nullable('string', { description: 'ThumbHash/BlurHash of the image.' }),
    dominantColor: nullable('string', { example: '#a0b1c2' }),
    position: nullable('integer', { description: 'Item photos: 0-based order.' }),
    errorReason: nullable('string'),
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    readyAt: nullable('string', { format: 'date-time' }),
    url: nullable('string', {
      description: 'The original: a public URL, or a short-lived signed one when the caller may read the file.',
    }),
    variants: { type: 'array', items: { $ref: 'FileVariant#' } },
  },
  required: [
    'id',
    'ownerId',
    'entityType',
    'entityId',
    'purpose',
    'documentType',
    'accessLevel',
    'status',
    'originalName',
    'contentType',
    'bytes',
    'width',
    'height',
    'sha256',
    'placeholder',
    'dominantColor',
    'position',
    'errorReason',
    'createdAt',
    'updatedAt',
    'readyAt',
    'url',
    'variants',
  ],
} as const

export const SignedUrlSchema = {
  $id: 'SignedUrl',
  type: 'object',
  properties: {
    url: { type: 'string' },
    expiresAt: { type: 'string', format: 'date-time', description: 'Absent for public URLs, which do not expire.' },
    variant: { type: 'string' },
    format: { type: 'string' },
  },
  required: ['url', 'variant', 'format'],
} as const

export const DirectUploadSchema = {
  $id: 'DirectUpload',
  type: 'object',
  description:
    'POST a multipart/form-data body to `url`: every field of `fields` as it is, then the file as `file`. Then call ' +
    'POST /v1/uploads/{id}/complete.',
  properties: {
    id: { type: 'string' },
    url: { type: 'string' },
    fields: { type: 'object', additionalProperties: { type: 'string' } },
    maxBytes: { type: 'integer' },
    expiresAt: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'url', 'fields', 'maxBytes', 'expiresAt'],
} as const

export const FileListSchema = (key: string, $id: string) =>
  ({
    $id,
    type: 'object',
    properties: { [key]: { type: 'array', items: { $ref: 'FileView#' } } },
    required: [key],
  }) as const

export const PhotoListSchema = FileListSchema('photos', 'PhotoList')
export const DocumentListSchema = FileListSchema('documents', 'DocumentList')

export const SHARED_SCHEMAS = [
  FileVariantViewSchema,
  FileViewSchema,
  SignedUrlSchema,
  DirectUploadSchema,
  PhotoListSchema,
  DocumentListSchema,
] as const

/** 4xx/5xx responses of every route: the problem document. */
export const problemResponses = {
  '4xx': {
    description: 'Client error; `code` says which.',
    content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } },
  },
  '5xx': {
    description: 'Server or infrastructure error (503: retry after `Retry-After`).',
    content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } },
  },
} as const

export const noContent = { 204: { type: 'null', description: 'Done.' } } as const

/** Upload options common to multipart uploads and direct-upload completion. */
export const uploadQuerystring = {
  type: 'object',
  properties: {
    wait: {
      type: 'boolean',
      default: false,
      description: 'Answer only when the variants are ready (or the file failed).',
    },
  },
  additionalProperties: false,
} as const

export const idempotencyHeaders = {
  type: 'object',
  properties: {
    'idempotency-key': {
      type: 'string',
      minLength: 1,
      maxLength: 255,
      pattern: '^[\\x21-\\x7e]+$',
      description: 'Retrying an upload with the same key (per user) yields the same file, stored once.',
    },
  },
} as const

/**
 * Multipart request bodies cannot be validated by Ajv (the parts are streamed), so routes carry
 * their form under `multipartBody` and the OpenAPI transform shows it as the request body.
 */
export const multipartFile = (extra: Record<string, unknown> = {}, required: string[] = []) => ({
  type: 'object',
  properties: {
    ...extra,
    file: { type: 'string', format: 'binary', description: 'The file (exactly one part, named `file`, last).' },
  },
  required: [...required, 'file'],
})

export const documentTypeSchema = { type: 'string', enum: DOCUMENT_TYPES } as const

export const purposeSchema = { type: 'string', enum: PURPOSES } as const

/**
 * A format a client may ask for. Every format the project names, not only the stored ones: asking
 * for one no object has (`gif`) is a 404 naming what exists, as it always was, rather than a 400.
 */
export const formatSchema = { type: 'string', enum: FORMAT_NAMES } as const

declare module 'fastify' {
  interface FastifySchema {
    /** The multipart form of an upload route, for OpenAPI only (see `multipartFile`). */
    multipartBody?: unknown
  }
}
