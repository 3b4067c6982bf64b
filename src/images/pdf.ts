import { createHash } from 'node:crypto'
import { PDFArray, PDFDict, PDFDocument, PDFName, PDFRef, PDFStream, type PDFObject } from 'pdf-lib'
import { LocalexError } from '../errors/index.js'
import { DEFAULT_PDF_LIMITS, limitExceeded, scanPdf, type PdfLimits } from './pdf-scan.js'

export interface PdfFacts {
  readonly format: 'pdf'
  readonly contentType: 'application/pdf'
  readonly pages: number
  /** Size of the uploaded file. */
  readonly bytes: number
  /** SHA-256 of the uploaded file. */
  readonly sha256: string
  /**
   * The document to store: the validated objects written out again, one definition each, with a
   * fresh cross-reference table, so that every reader sees exactly what was checked.
   */
  readonly data: Buffer
}

/** Dictionary keys whose mere presence means active content: scripts, triggers, attachments. */
const UNSAFE_KEYS = new Set(['JS', 'JavaScript', 'AA', 'EmbeddedFiles', 'EF', 'RichMediaContent', 'XFA'])
/**
 * Action types (`/S`) allowed: navigation inside the document. Every other action (`/URI`,
 * `/GoToR` to a UNC path, `/SubmitForm`, `/Launch`, `/JavaScript`, …) reaches outside it.
 */
const ALLOWED_ACTIONS = new Set(['GoTo', 'Named'])
/** `/Named` actions allowed: the standard page moves. */
const ALLOWED_NAMED = new Set(['NextPage', 'PrevPage', 'FirstPage', 'LastPage'])
/**
 * Action types refused wherever an `/S` names them, even outside an action context (`/S` also
 * names structure types, page-label styles and soft masks, which never collide with these).
 */
const UNSAFE_ACTIONS = new Set([
  'JavaScript',
  'Launch',
  'ImportData',
  'GoToE',
  'GoToR',
  'Rendition',
  'URI',
  'SubmitForm',
  'ResetForm',
  'Sound',
  'Movie',
  'Hide',
  'Thread',
  'SetOCGState',
  'GoTo3DView',
  'RichMediaExecute',
  'Trans',
])
/** Object types (`/Type`, `/Subtype`) that carry something to run or extract. */
const UNSAFE_TYPES = new Set(['EmbeddedFile', 'RichMedia', 'FileAttachment', 'Sound', 'Movie', 'Screen', '3D'])
/** Keys whose value is an action (or a chain of them). */
const ACTION_KEYS = new Set(['A', 'OpenAction', 'Next'])

/**
 * Validates a verification document PDF and returns the copy to store. The document is never
 * rendered here, so it must be plainly readable by a reviewer and carry nothing active:
 * - the bytes start with `%PDF-` (else INVALID_PDF);
 * - its raw structure allows one reading and its streams decode within limits (`scanPdf`:
 *   UNSAFE_PDF for duplicate objects or a disagreeing cross-reference table, PDF_LIMIT_EXCEEDED
 *   for compression bombs and oversized structures);
 * - pdf-lib parses it and finds between one and `maxPages` pages (else INVALID_PDF or
 *   PDF_LIMIT_EXCEEDED);
 * - it is not encrypted (INVALID_PDF with `details.reason = 'encrypted'`: a reviewer could not open
 *   it, and its objects cannot be inspected);
 * - no object anywhere in it (object streams included) holds JavaScript, an additional-actions
 *   (`/AA`) trigger, an action other than in-document navigation, embedded files, multimedia or
 *   XFA forms (UNSAFE_PDF, with the first offending key in `details.found`).
 * Then the parsed objects are written out again: what is stored is exactly what was checked, whatever
 * a reader does with a file that a parser could read two ways.
 */
export async function validatePdf(input: Buffer, limits: PdfLimits = DEFAULT_PDF_LIMITS): Promise<PdfFacts> {
  if (input.length === 0) throw new LocalexError('EMPTY_FILE', 'File is empty')
  if (input.subarray(0, 5).toString('latin1') !== '%PDF-') {
    throw new LocalexError('INVALID_PDF', 'File does not start with a PDF header', { details: { reason: 'magic' } })
  }
  await scanPdf(input, limits)
  let doc: PDFDocument
  try {
    // Loaded with ignoreEncryption so that an encrypted file is told apart from a broken one
    // (pdf-lib's EncryptedPDFError does not survive `instanceof`); it is refused just below.
    doc = await PDFDocument.load(input, { ignoreEncryption: true, updateMetadata: false, throwOnInvalidObject: true })
  } catch (cause) {
    throw new LocalexError('INVALID_PDF', 'PDF could not be parsed', { cause, details: { reason: 'unparseable' } })
  }
  if (doc.isEncrypted) {
    throw new LocalexError('INVALID_PDF', 'PDF is encrypted (password-protected); upload an unprotected copy', {
      details: { reason: 'encrypted' },
    })
  }
  const objects = doc.context.enumerateIndirectObjects().length
  if (objects > limits.maxObjects) throw limitExceeded('objects', limits.maxObjects, 'The PDF has too many objects')
  let pages: number
  try {
    pages = doc.getPageCount()
  } catch (cause) {
    throw new LocalexError('INVALID_PDF', 'PDF page tree could not be read', { cause, details: { reason: 'pages' } })
  }
  if (pages < 1) throw new LocalexError('INVALID_PDF', 'PDF has no pages', { details: { reason: 'pages' } })
  if (pages > limits.maxPages)
    throw limitExceeded('pages', limits.maxPages, `The PDF has more than ${limits.maxPages} pages`)

  const found = findUnsafe(doc)
  if (found) throw new LocalexError('UNSAFE_PDF', `PDF contains active content (${found})`, { details: { found } })
  let data: Buffer
  try {
    data = Buffer.from(
      await doc.save({ useObjectStreams: false, addDefaultPage: false, updateFieldAppearances: false }),
    )
  } catch (cause) {
    throw new LocalexError('INVALID_PDF', 'PDF could not be written out again', {
      cause,
      details: { reason: 'unwritable' },
    })
  }
  return {
    format: 'pdf',
    contentType: 'application/pdf',
    pages,
    bytes: input.length,
    sha256: createHash('sha256').update(input).digest('hex'),
    data,
  }
}

/** Walks every indirect object and the direct objects inside it; returns the first unsafe key or name. */
function findUnsafe(doc: PDFDocument): string | undefined {
  const seen = new Set<PDFObject>()
  const resolve = (obj: PDFObject | undefined): PDFObject | undefined =>
    obj instanceof PDFRef ? doc.context.lookup(obj) : obj
  /** An action dictionary must be in-document navigation. */
  const checkAction = (value: PDFObject | undefined, key: string): string | undefined => {
    const action = resolve(value)
    // A destination (`/OpenAction [page /Fit]`) or a list of `/Next` actions, visited below.
    if (action instanceof PDFArray) return undefined
    if (!(action instanceof PDFDict)) return undefined
    const type = action.get(PDFName.of('S'))
    const name = type instanceof PDFName ? type.decodeText() : undefined
    if (name === undefined) return key === 'OpenAction' ? undefined : `/${key} without /S`
    if (!ALLOWED_ACTIONS.has(name)) return `/S /${name}`
    if (name === 'Named') {
      const n = action.get(PDFName.of('N'))
      if (!(n instanceof PDFName) || !ALLOWED_NAMED.has(n.decodeText())) return '/S /Named'
    }
    if (name === 'GoTo' && action.get(PDFName.of('SD')) !== undefined) return '/S /GoTo with /SD'
    return undefined
  }
  const visit = (obj: PDFObject | undefined): string | undefined => {
    if (obj === undefined || seen.has(obj)) return undefined
    seen.add(obj)
    if (obj instanceof PDFStream) return visit(obj.dict)
    if (obj instanceof PDFArray) {
      for (const item of obj.asArray()) {
        const hit = visit(item)
        if (hit) return hit
      }
      return undefined
    }
    if (obj instanceof PDFDict) {
      for (const [key, value] of obj.entries()) {
        const name = key.decodeText()
        if (UNSAFE_KEYS.has(name)) return `/${name}`
        if (value instanceof PDFName) {
          const v = value.decodeText()
          if (name === 'S' && UNSAFE_ACTIONS.has(v)) return `/S /${v}`
          if ((name === 'Type' || name === 'Subtype') && UNSAFE_TYPES.has(v)) return `/${name} /${v}`
        }
        if (ACTION_KEYS.has(name)) {
          const hit = checkAction(value, name)
          if (hit) return hit
        }
        const hit = visit(value)
        if (hit) return hit
      }
    }
    return undefined
  }
  for (const [, obj] of doc.context.enumerateIndirectObjects()) {
    const hit = visit(obj)
    if (hit) return hit
  }
  // The trailer's /Root is an indirect object, so it was visited above; /Info holds only strings.
  return undefined
}
