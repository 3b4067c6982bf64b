import { createHash } from 'node:crypto'
import { PDFArray, PDFDict, PDFDocument, PDFName, PDFStream, type PDFObject } from 'pdf-lib'
import { LocalexError } from '../errors/index.js'

export interface PdfFacts {
  readonly format: 'pdf'
  readonly contentType: 'application/pdf'
  readonly pages: number
  readonly bytes: number
  readonly sha256: string
}

/** Dictionary keys whose mere presence means active content: scripts, triggers, attachments. */
const UNSAFE_KEYS = new Set(['JS', 'JavaScript', 'AA', 'EmbeddedFiles', 'EF', 'RichMediaContent', 'XFA'])
/** Action (`/S`) and object (`/Type`, `/Subtype`) names that run or carry something. */
const UNSAFE_NAMES = new Set(['JavaScript', 'Launch', 'EmbeddedFile', 'ImportData', 'RichMedia', 'GoToE', 'Rendition'])

/**
 * Validates a verification document PDF, which is stored as uploaded (never rendered here), so it
 * must be plainly readable by a reviewer and carry nothing active:
 * - the bytes start with `%PDF-` (else INVALID_PDF);
 * - pdf-lib parses it and finds at least one page (else INVALID_PDF);
 * - it is not encrypted (INVALID_PDF with `details.reason = 'encrypted'`: a reviewer could not open
 *   it, and its objects cannot be inspected);
 * - no object anywhere in it (object streams included) holds JavaScript, an additional-actions
 *   (`/AA`) trigger, a Launch/ImportData/GoToE/Rendition action, embedded files or XFA forms
 *   (UNSAFE_PDF, with the first offending key in `details.found`).
 */
export async function validatePdf(input: Buffer): Promise<PdfFacts> {
  if (input.length === 0) throw new LocalexError('EMPTY_FILE', 'File is empty')
  if (input.subarray(0, 5).toString('latin1') !== '%PDF-') {
    throw new LocalexError('INVALID_PDF', 'File does not start with a PDF header', { details: { reason: 'magic' } })
  }
  let doc: PDFDocument
  try {
    // Loaded with ignoreEncryption so that an encrypted file is told apart from a broken one
    // (pdf-lib's EncryptedPDFError does not survive `instanceof`); it is refused just below.
    doc = await PDFDocument.load(input, { ignoreEncryption: true, updateMetadata: false, throwOnInvalidObject: true })
  } catch (cause) {
    throw new LocalexError('INVALID_PDF', 'PDF could not be parsed', { cause, details: { reason: 'unparseable' } })
  }
  if (doc.isEncrypted) {
    throw new LocalexError('INVALID_PDF', 'PDF is encrypted (password-protected); upload an unprotected copy', { details: { reason: 'encrypted' } })
  }
  let pages: number
  try {
    pages = doc.getPageCount()
  } catch (cause) {
    throw new LocalexError('INVALID_PDF', 'PDF page tree could not be read', { cause, details: { reason: 'pages' } })
  }
  if (pages < 1) throw new LocalexError('INVALID_PDF', 'PDF has no pages', { details: { reason: 'pages' } })

  const found = findUnsafe(doc)
  if (found) throw new LocalexError('UNSAFE_PDF', `PDF contains active content (${found})`, { details: { found } })
  return { format: 'pdf', contentType: 'application/pdf', pages, bytes: input.length, sha256: createHash('sha256').update(input).digest('hex') }
}

/** Walks every indirect object and the direct objects inside it; returns the first unsafe key or name. */
function findUnsafe(doc: PDFDocument): string | undefined {
  const seen = new Set<PDFObject>()
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
        if ((name === 'S' || name === 'Type' || name === 'Subtype') && value instanceof PDFName && UNSAFE_NAMES.has(value.decodeText())) {
          return `/${name} /${value.decodeText()}`
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
