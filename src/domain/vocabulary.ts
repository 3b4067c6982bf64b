/**
 * The words of the domain, each closed list defined once, as data: the list is the type (`as
 * const`), the runtime check (`is*`) and what JSON schemas and SQL checks enumerate. It sits under
 * every other layer (db, images, storage keys, jobs, files and http all speak it), so it imports
 * nothing. Adding a purpose or a format starts here; the compiler then points at every table keyed
 * by it that needs a row (`PURPOSE_RULES`, `FORMATS`, the job handler map).
 */

function isOneOf<T extends string>(list: readonly T[]): (value: unknown) => value is T {
  return (value: unknown): value is T => typeof value === 'string' && (list as readonly string[]).includes(value)
}

// ------------------------------------------------------------------ files

/** What a file is for; decides what is accepted and written (`PURPOSE_RULES` in images). */
export const PURPOSES = ['item_photo', 'profile_photo', 'document'] as const
export type Purpose = (typeof PURPOSES)[number]
export const isPurpose = isOneOf(PURPOSES)

/** What a file is attached to: an item, a user's profile, a user's verification. */
export const ENTITY_TYPES = ['item', 'profile', 'verification'] as const
export type EntityType = (typeof ENTITY_TYPES)[number]
export const isEntityType = isOneOf(ENTITY_TYPES)

/**
 * Who may read a file: `public` anyone (CDN URL), `authenticated` any signed-in user (signed URL),
 * `private` the owner and admins (short-lived signed URL, every access audited).
 */
export const ACCESS_LEVELS = ['public', 'authenticated', 'private'] as const
export type AccessLevel = (typeof ACCESS_LEVELS)[number]
export const isAccessLevel = isOneOf(ACCESS_LEVELS)

/** A file's lifecycle: `uploading` → `processing` (variants queued) → `ready` or `failed`; any → `deleted`. */
export const FILE_STATUSES = ['uploading', 'processing', 'ready', 'failed', 'deleted'] as const
export type FileStatus = (typeof FILE_STATUSES)[number]
export const isFileStatus = isOneOf(FILE_STATUSES)

/** A direct (presigned) upload: `pending` until `complete` is called or it expires. */
export const UPLOAD_STATUSES = ['pending', 'completed', 'expired'] as const
export type UploadStatus = (typeof UPLOAD_STATUSES)[number]
export const isUploadStatus = isOneOf(UPLOAD_STATUSES)

/** Kinds of verification document; each is a key segment (`verification/{userId}/{type}/…`). */
export const DOCUMENT_TYPES = ['id_card', 'passport', 'drivers_license', 'proof_of_address'] as const
export type DocumentType = (typeof DOCUMENT_TYPES)[number]
export const isDocumentType = isOneOf(DOCUMENT_TYPES)

// ------------------------------------------------------------------ formats

/**
 * Every format the project names, with the Content-Type and file extension it is stored and served
 * under. The lists below pick from these keys, so a format's content type and extension are written
 * once.
 */
export const FORMATS = {
  jpeg: { contentType: 'image/jpeg', ext: 'jpg' },
  png: { contentType: 'image/png', ext: 'png' },
  webp: { contentType: 'image/webp', ext: 'webp' },
  // Input only: decoded to its first frame and re-encoded, never written as GIF.
  gif: { contentType: 'image/gif', ext: 'gif' },
  avif: { contentType: 'image/avif', ext: 'avif' },
  // Input only, like GIF: iPhone photos. HEVC-coded HEIF is `heic`; `heif` is the generic brand (mif1)
  // of the same container. Decoded and re-encoded; nothing is ever written as HEIF.
  heic: { contentType: 'image/heic', ext: 'heic' },
  heif: { contentType: 'image/heif', ext: 'heif' },
  // Verification documents only, stored as validated.
  pdf: { contentType: 'application/pdf', ext: 'pdf' },
} as const
export type Format = keyof typeof FORMATS
export const FORMAT_NAMES = Object.keys(FORMATS) as readonly Format[]
export const isFormat = isOneOf(FORMAT_NAMES)

/** Photo formats accepted as input (decided from the bytes); GIF gives its first frame, HEIF its primary image. */
export const IMAGE_INPUT_FORMATS = [
  'jpeg',
  'png',
  'webp',
  'gif',
  'avif',
  'heic',
  'heif',
] as const satisfies readonly Format[]
export type ImageInputFormat = (typeof IMAGE_INPUT_FORMATS)[number]

/** Formats an upload may arrive in: the photo formats, and PDF for verification documents only. */
export const INPUT_FORMATS = [...IMAGE_INPUT_FORMATS, 'pdf'] as const
export type InputFormat = (typeof INPUT_FORMATS)[number]

/** The accepted photo inputs by MIME type: what `ALLOWED_IMAGE_TYPES` chooses from. */
export type ImageType = (typeof FORMATS)[ImageInputFormat]['contentType']
// Written out (not mapped from IMAGE_INPUT_FORMATS) so that it is a tuple zod can enumerate;
// `satisfies` and the check below keep it in step with the formats.
export const IMAGE_TYPES = [
  'image/jpeg',
  'image/png',
  'image/webp',
  'image/gif',
  'image/avif',
  'image/heic',
  'image/heif',
] as const satisfies readonly ImageType[]
type MissingImageType = Exclude<ImageType, (typeof IMAGE_TYPES)[number]>
const imageTypesComplete: MissingImageType extends never ? true : never = true
void imageTypesComplete
export const isImageType = isOneOf(IMAGE_TYPES)

/** Formats the image pipeline writes (GIF and HEIF input is re-encoded; nothing is ever written as either). */
export const OUTPUT_FORMATS = ['jpeg', 'png', 'webp', 'avif'] as const satisfies readonly Format[]
export type OutputFormat = (typeof OUTPUT_FORMATS)[number]
export type OutputExt = (typeof FORMATS)[OutputFormat]['ext']

/** Formats a stored object may have: the pipeline's outputs, and PDF documents kept as validated. */
export const STORED_FORMATS = [...OUTPUT_FORMATS, 'pdf'] as const
export type StoredFormat = (typeof STORED_FORMATS)[number]
export const isStoredFormat = isOneOf(STORED_FORMATS)

// ------------------------------------------------------------------ variants

/** The variant name of a file's original; configured variants may not take it. */
export const ORIGINAL_VARIANT = 'original'
/** The one variant profile photos and documents get, even when `IMAGE_VARIANTS` names no such variant. */
export const THUMBNAIL_VARIANT = 'thumbnail'

// ------------------------------------------------------------------ jobs

/**
 * Every kind of job with its payload. Payloads travel as JSON (outbox rows, BullMQ), so they hold
 * plain data only; a change here must still read the rows already written.
 */
export interface JobPayloads {
  /** Render the variants of a file in `processing`. */
  variants: {
    fileId: string
    /** Written by a reprocess, for whoever reads the row; the job itself does not look at it. */
    reprocess?: boolean
  }
  /** Delete every object under a deleted file's folder. */
  delete_objects: { fileId: string; prefix: string }
  /** Invalidate CDN paths (object keys, or folder prefixes ending in `/*`). */
  purge_cdn: { paths: string[] }
  /** Fetch a public file's URLs through the CDN so the first reader hits a warm cache. */
  warm_cdn: { fileId: string }
}

export const JOB_NAMES = ['variants', 'delete_objects', 'purge_cdn', 'warm_cdn'] as const
export type JobName = (typeof JOB_NAMES)[number]
export type JobPayload<N extends JobName> = JobPayloads[N]
export const isJobName = isOneOf(JOB_NAMES)

/**
 * An outbox row: `pending` → `dispatched` (handed to the queue, with a deadline) → `done` or
 * `failed`; a dispatched row past its deadline is dispatched again.
 */
export const OUTBOX_STATUSES = ['pending', 'dispatched', 'done', 'failed'] as const
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number]
export const isOutboxStatus = isOneOf(OUTBOX_STATUSES)

// The list and the payload map must name the same jobs: a job without a payload type, or a payload
// type no worker would ever be started for, fails to compile here.
type SameKeys<A, B> = [Exclude<A, B> | Exclude<B, A>] extends [never] ? true : false
type Assert<T extends true> = T
type _JobNamesMatchPayloads = Assert<SameKeys<JobName, keyof JobPayloads>>
