/**
 * Type sniffing from magic bytes. The bytes decide, never a file name or a client's Content-Type.
 * Only the first few hundred bytes are looked at; nothing is decoded.
 */

/** Every kind the sniffer can name. Only some are accepted: see `ACCEPTED_PHOTO_KINDS` in validate.ts. */
export const SNIFFED_KINDS = [
  'jpeg',
  'png',
  'webp',
  'gif',
  'avif',
  'avif-sequence',
  'heic',
  'heif',
  'svg',
  'xml',
  'html',
  'tiff',
  'bmp',
  'jxl',
  'pdf',
  'unknown',
] as const
export type SniffedKind = (typeof SNIFFED_KINDS)[number]

export interface SniffResult {
  readonly kind: SniffedKind
  /** A MIME type for messages and logs (what the bytes are, not what the client said). */
  readonly mime: string
}

const MIME: Record<SniffedKind, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
  'avif-sequence': 'image/avif',
  heic: 'image/heic',
  heif: 'image/heif',
  svg: 'image/svg+xml',
  xml: 'application/xml',
  html: 'text/html',
  tiff: 'image/tiff',
  bmp: 'image/bmp',
  jxl: 'image/jxl',
  pdf: 'application/pdf',
  unknown: 'application/octet-stream',
}

/** HEVC-coded HEIF (`image/heic`): stills (heic, heix, heim, heis) and sequences (hevc, hevx, hevm, hevs). */
const HEVC_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs'])
/** The generic HEIF brands (`image/heif`), whatever codec the items use. */
const GENERIC_HEIF_BRANDS = new Set(['mif1', 'msf1', 'mif2', 'miaf'])

/** Names what `buffer` is by its leading bytes. */
export function sniffType(buffer: Uint8Array): SniffResult {
  const kind = sniffKind(buffer)
  return { kind, mime: MIME[kind] }
}

function sniffKind(b: Uint8Array): SniffedKind {
  const ascii = (start: number, end: number) => Buffer.from(b.subarray(start, end)).toString('latin1')
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg'
  if (b.length >= 8 && ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'png'
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp'
  if (b.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return 'gif'
  if (b.length >= 5 && ascii(0, 5) === '%PDF-') return 'pdf'
  if (
    b.length >= 4 &&
    (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*' || ascii(0, 4) === 'II+\0' || ascii(0, 4) === 'MM\0+')
  )
    return 'tiff'
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return 'bmp'
  // JPEG XL: bare codestream FF 0A, or the ISOBMFF container whose first box is `JXL `.
  if (b.length >= 2 && b[0] === 0xff && b[1] === 0x0a) return 'jxl'
  if (b.length >= 12 && ascii(4, 8) === 'JXL ' && b[8] === 0x0d && b[9] === 0x0a && b[10] === 0x87 && b[11] === 0x0a)
    return 'jxl'
  const ftyp = isobmffBrands(b)
  if (ftyp) {
    // Major brand first: an image sequence (`avis`) lists `avif` among its compatible brands too.
    if (ftyp.major === 'avis') return 'avif-sequence'
    if (ftyp.major === 'avif') return 'avif'
    if (HEVC_BRANDS.has(ftyp.major)) return 'heic'
    const genericMajor = GENERIC_HEIF_BRANDS.has(ftyp.major)
    if (genericMajor && ftyp.compatible.includes('avif') && ftyp.major.startsWith('mi')) return 'avif'
    if (ftyp.compatible.includes('avis')) return 'avif-sequence'
    if (ftyp.compatible.includes('avif')) return 'avif'
    // A generic major brand with an HEVC brand among the compatible ones is HEVC-coded all the same.
    if (ftyp.compatible.some((c) => HEVC_BRANDS.has(c))) return 'heic'
    if (GENERIC_HEIF_BRANDS.has(ftyp.major) || ftyp.compatible.some((c) => GENERIC_HEIF_BRANDS.has(c))) return 'heif'
    return 'unknown'
  }
  return sniffText(b)
}

function isobmffBrands(b: Uint8Array): { major: string; compatible: string[] } | undefined {
  if (b.length < 16) return undefined
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const size = view.getUint32(0)
  if (Buffer.from(b.subarray(4, 8)).toString('latin1') !== 'ftyp' || size < 16 || size > 4096) return undefined
  const end = Math.min(size, b.length)
  const brand = (at: number) => Buffer.from(b.subarray(at, at + 4)).toString('latin1')
  const compatible: string[] = []
  for (let at = 16; at + 4 <= end; at += 4) compatible.push(brand(at))
  return { major: brand(8), compatible }
}

/** SVG, XML and HTML are text: skip a BOM and whitespace, then look at the first tag. */
function sniffText(b: Uint8Array): SniffedKind {
  let text = Buffer.from(b.subarray(0, 1024)).toString('utf8')
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  text = text.trimStart().toLowerCase()
  if (!text.startsWith('<')) return 'unknown'
  if (/<svg[\s>]/.test(text)) return 'svg'
  if (text.startsWith('<!doctype html') || /^<(html|head|body|script|iframe|div|p|a)[\s>]/.test(text)) return 'html'
  if (text.startsWith('<?xml') || text.startsWith('<!doctype') || text.startsWith('<!--')) return 'xml'
  return 'html'
}
