import { createInflate, constants as zlib } from 'node:zlib'
import { LocalexError } from '../errors/index.js'

/**
 * The raw-byte checks a PDF passes before any parser builds objects from it. A PDF parser (pdf-lib
 * here, pdf.js or Acrobat for a reviewer) trusts the file's structure; these checks make sure the
 * structure leaves no room for two readings, and that decoding its streams costs a bounded amount:
 *
 * - **One reading.** Each object number is defined once per revision, and every classic
 *   cross-reference entry points at a definition of its own object; for an object redefined by an
 *   incremental update, the newest entry points at the newest definition. A file that fails this
 *   shows one thing to a reader that follows the cross-reference table and another to a parser
 *   that keeps the last definition (UNSAFE_PDF).
 * - **Bounded decoding.** Every stream is decoded through its filter chain, counting bytes and
 *   keeping none (Flate runs on the thread pool); the total is capped, and so is its ratio to the
 *   file's size once it is large (PDF_LIMIT_EXCEEDED). A compression bomb is refused before
 *   pdf-lib would inflate it (it decodes object streams whole, in memory).
 * - **Bounded structure.** At most `maxObjects` object definitions.
 *
 * Image codecs (DCT, JPX, JBIG2, CCITT) end a chain: their output is pixels, bounded by the image's
 * own dimensions, which a reader decodes only to draw.
 */

export interface PdfLimits {
  /** Most bytes all streams may decode to, together. */
  readonly maxInflatedBytes: number
  /** Most decoded bytes per byte of the file, checked once the decoded total passes `expansionFloor`. */
  readonly maxExpansion: number
  /** Decoded total below which the ratio is not checked (small documents compress text well). */
  readonly expansionFloor: number
  /** Most indirect objects (definitions in the file and inside object streams). */
  readonly maxObjects: number
  /** Most pages. */
  readonly maxPages: number
}

export const DEFAULT_PDF_LIMITS: PdfLimits = {
  maxInflatedBytes: 256 * 1024 * 1024,
  maxExpansion: 200,
  expansionFloor: 16 * 1024 * 1024,
  maxObjects: 100_000,
  maxPages: 500,
}

export interface PdfScan {
  /** Object definitions found in the file (not counting those inside object streams). */
  readonly objects: number
  /** `%%EOF` markers: 1 for a file written once, more after incremental updates. */
  readonly revisions: number
  /** Bytes all streams decode to. */
  readonly inflatedBytes: number
}

const WS = '[ \\t\\r\\n\\f\\x00]'
/** `12 0 obj`, not preceded by a digit (so `112 0 obj` is not read as `12 0 obj`). */
const OBJECT_HEADER = new RegExp(`(?<![0-9])(\\d{1,10})${WS}+(\\d{1,5})${WS}+obj(?![A-Za-z0-9])`, 'g')
/** The `stream` keyword and its end of line; not `endstream`. */
const STREAM_KEYWORD = /(?<![A-Za-z])stream(\r\n|\n|\r)/
const XREF_KEYWORD = /(?<![A-Za-z])xref[ \t]*(\r\n|\n|\r)/g
const DIRECT_LENGTH = new RegExp(`/Length${WS}*(\\d{1,10})(?!${WS}+\\d+${WS}+R)`)

const FILTER_NAMES: Record<string, Filter> = {
  FlateDecode: 'flate',
  Fl: 'flate',
  LZWDecode: 'lzw',
  LZW: 'lzw',
  RunLengthDecode: 'runlength',
  RL: 'runlength',
  ASCIIHexDecode: 'hex',
  AHx: 'hex',
  ASCII85Decode: 'a85',
  A85: 'a85',
  DCTDecode: 'image',
  DCT: 'image',
  JPXDecode: 'image',
  JBIG2Decode: 'image',
  CCITTFaxDecode: 'image',
  CCF: 'image',
  Crypt: 'image',
}
type Filter = 'flate' | 'lzw' | 'runlength' | 'hex' | 'a85' | 'image'

export async function scanPdf(input: Buffer, limits: PdfLimits = DEFAULT_PDF_LIMITS): Promise<PdfScan> {
  const text = input.toString('latin1')
  const definitions = new Map<number, number[]>()
  let objects = 0
  let inflated = 0
  const budget = {
    take(bytes: number) {
      inflated += bytes
      if (inflated > limits.maxInflatedBytes)
        throw limitExceeded('inflatedBytes', limits.maxInflatedBytes, 'The PDF decompresses to more than the limit')
      if (inflated > limits.expansionFloor && inflated / input.length > limits.maxExpansion) {
        throw limitExceeded('expansion', limits.maxExpansion, 'The PDF decompresses to too many times its own size')
      }
    },
  }

  // One pass over the objects, jumping over stream data so that bytes inside a stream are never
  // read as structure.
  OBJECT_HEADER.lastIndex = 0
  for (let match = OBJECT_HEADER.exec(text); match; match = OBJECT_HEADER.exec(text)) {
    const num = Number(match[1])
    const offset = match.index
    objects += 1
    if (objects > limits.maxObjects) throw limitExceeded('objects', limits.maxObjects, 'The PDF has too many objects')
    const seen = definitions.get(num)
    if (seen) seen.push(offset)
    else definitions.set(num, [offset])

    const bodyStart = offset + match[0].length
    const endobj = text.indexOf('endobj', bodyStart)
    const bodyEnd = endobj < 0 ? text.length : endobj
    const streamAt = STREAM_KEYWORD.exec(text.slice(bodyStart, bodyEnd))
    if (!streamAt) {
      OBJECT_HEADER.lastIndex = endobj < 0 ? bodyStart : endobj + 6
      continue
    }
    const dict = text.slice(bodyStart, bodyStart + streamAt.index)
    const dataStart = bodyStart + streamAt.index + streamAt[0].length
    const dataEnd = streamEnd(text, dict, dataStart)
    await decodeChain(input.subarray(dataStart, dataEnd), filtersOf(dict), budget)
    OBJECT_HEADER.lastIndex = dataEnd
  }

  const revisions = Math.max(1, countOf(text, '%%EOF'))
  checkDefinitions(text, definitions, revisions)
  return { objects, revisions, inflatedBytes: inflated }
}

/** Where a stream's data ends: its direct `/Length` when `endstream` follows it, else the next `endstream`. */
function streamEnd(text: string, dict: string, dataStart: number): number {
  const direct = DIRECT_LENGTH.exec(dict)
  if (direct) {
    const end = dataStart + Number(direct[1])
    if (end <= text.length && /^[\r\n \t]*endstream/.test(text.slice(end, end + 12))) return end
  }
  const found = text.indexOf('endstream', dataStart)
  if (found < 0) return text.length
  // The end of line before `endstream` is not part of the data.
  let end = found
  if (text[end - 1] === '\n') end -= 1
  if (text[end - 1] === '\r') end -= 1
  return Math.max(dataStart, end)
}

/** The `/Filter` of a stream dictionary as a chain (a name or an array of names; `#xx` escapes decoded). */
function filtersOf(dict: string): Filter[] {
  const m = new RegExp(`/Filter${WS}*(\\[[^\\]]*\\]|/[^\\s/\\[\\]<>()]+)`).exec(dict)
  if (!m?.[1]) return []
  const names = m[1].match(/\/[^\s/[\]<>()]+/g) ?? []
  return names.map((raw) => {
    const name = raw.slice(1).replace(/#([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    const filter = FILTER_NAMES[name]
    if (!filter)
      throw new LocalexError('INVALID_PDF', `PDF uses an unknown stream filter /${name}`, {
        details: { reason: 'filter', filter: name.slice(0, 40) },
      })
    return filter
  })
}

interface Budget {
  take(bytes: number): void
}

/**
 * Decodes a stream through its chain, charging every decoded byte to the budget. The last
 * decodable filter's output is only counted; intermediate outputs (rare: `[/ASCII85Decode
 * /FlateDecode]`) are kept, and they were charged too, so they are bounded by the same budget.
 */
async function decodeChain(data: Buffer, chain: Filter[], budget: Budget): Promise<void> {
  let current = data
  for (let i = 0; i < chain.length; i++) {
    const filter = chain[i] as Filter
    if (filter === 'image') return
    const last = i === chain.length - 1 || chain[i + 1] === 'image'
    const out = await decodeOne(filter, current, budget, !last)
    if (last || !out) return
    current = out
  }
}

async function decodeOne(
  filter: Exclude<Filter, 'image'>,
  data: Buffer,
  budget: Budget,
  keep: boolean,
): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  const sink = (chunk: Buffer) => {
    budget.take(chunk.length)
    if (keep) chunks.push(Buffer.from(chunk))
  }
  if (filter === 'flate') {
    await inflate(data, sink)
  } else {
    const out = new Output(sink)
    if (filter === 'runlength') runLength(data, out)
    else if (filter === 'lzw') lzw(data, out)
    else if (filter === 'hex') asciiHex(data, out)
    else ascii85(data, out)
    out.flush()
  }
  return keep ? Buffer.concat(chunks) : undefined
}

/** Collects decoded bytes in 64 KiB pieces for the sink, so that a long run is charged as it grows. */
class Output {
  readonly #sink: (chunk: Buffer) => void
  readonly #buffer = Buffer.allocUnsafe(64 * 1024)
  #used = 0

  constructor(sink: (chunk: Buffer) => void) {
    this.#sink = sink
  }

  byte(value: number): void {
    this.#buffer[this.#used++] = value
    if (this.#used === this.#buffer.length) this.flush()
  }

  flush(): void {
    if (this.#used === 0) return
    this.#sink(this.#buffer.subarray(0, this.#used))
    this.#used = 0
  }
}

/**
 * Counts a Flate stream's output on the thread pool. A corrupt stream counts what decoded before
 * the damage, as readers show what they can; only the size decides here.
 */
function inflate(data: Buffer, sink: (chunk: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const inflater = createInflate({ finishFlush: zlib.Z_SYNC_FLUSH, chunkSize: 64 * 1024 })
    let settled = false
    const settle = (error?: unknown) => {
      if (settled) return
      settled = true
      if (error) reject(error)
      else resolve()
    }
    inflater.on('data', (chunk: Buffer) => {
      try {
        sink(chunk)
      } catch (error) {
        inflater.destroy()
        settle(error)
      }
    })
    inflater.on('error', () => settle())
    inflater.on('end', () => settle())
    inflater.on('close', () => settle())
    inflater.end(data)
  })
}

/** RunLengthDecode (ISO 32000-1, 7.4.5). */
function runLength(data: Buffer, out: Output): void {
  let i = 0
  while (i < data.length) {
    const n = data[i] as number
    if (n === 128) return
    if (n < 128) {
      for (let j = i + 1; j < Math.min(data.length, i + 2 + n); j++) out.byte(data[j] as number)
      i += n + 2
    } else {
      const value = data[i + 1] ?? 0
      for (let j = 0; j < 257 - n; j++) out.byte(value)
      i += 2
    }
  }
}

/** LZWDecode (ISO 32000-1, 7.4.4) with early change, the PDF default: codes of 9 to 12 bits. */
function lzw(data: Buffer, out: Output): void {
  const prefix = new Int32Array(4096).fill(-1)
  const last = new Uint8Array(4096)
  const first = new Uint8Array(4096)
  const length = new Int32Array(4096)
  const stack = new Uint8Array(4096)
  for (let c = 0; c < 256; c++) {
    last[c] = c
    first[c] = c
    length[c] = 1
  }
  let next = 258
  let width = 9
  let previous = -1
  let bits = 0
  let buffer = 0
  const emit = (code: number) => {
    let n = 0
    for (let c = code; c >= 0; c = prefix[c] as number) stack[n++] = last[c] as number
    while (n > 0) out.byte(stack[--n] as number)
  }
  const add = (base: number, char: number) => {
    if (next >= 4096) return
    prefix[next] = base
    last[next] = char
    first[next] = first[base] as number
    length[next] = (length[base] as number) + 1
    next += 1
    if (next + 1 >= 1 << width && width < 12) width += 1
  }
  for (const byte of data) {
    buffer = ((buffer << 8) | byte) & 0xffffff
    bits += 8
    while (bits >= width) {
      bits -= width
      const code = (buffer >> bits) & ((1 << width) - 1)
      if (code === 257) return
      if (code === 256) {
        next = 258
        width = 9
        previous = -1
        continue
      }
      if (previous < 0) {
        if (code > 255) return
      } else if (code < next) {
        add(previous, first[code] as number)
      } else if (code === next) {
        add(previous, first[previous] as number)
      } else {
        return
      }
      emit(code)
      previous = code
    }
  }
}

function asciiHex(data: Buffer, out: Output): void {
  let high = -1
  for (const byte of data) {
    if (byte === 0x3e) break
    const digit =
      byte >= 0x30 && byte <= 0x39
        ? byte - 0x30
        : byte >= 0x41 && byte <= 0x46
          ? byte - 55
          : byte >= 0x61 && byte <= 0x66
            ? byte - 87
            : -1
    if (digit < 0) continue
    if (high < 0) high = digit
    else {
      out.byte(high * 16 + digit)
      high = -1
    }
  }
  if (high >= 0) out.byte(high * 16)
}

function ascii85(data: Buffer, out: Output): void {
  let group = 0
  let n = 0
  for (const byte of data) {
    if (byte === 0x7e) break
    if (byte === 0x7a && n === 0) {
      for (let i = 0; i < 4; i++) out.byte(0)
      continue
    }
    if (byte < 0x21 || byte > 0x75) continue
    group = group * 85 + (byte - 0x21)
    if (++n === 5) {
      for (let shift = 24; shift >= 0; shift -= 8) out.byte((group >>> shift) & 0xff)
      group = 0
      n = 0
    }
  }
  if (n > 1) {
    for (let i = n; i < 5; i++) group = group * 85 + 84
    for (let i = 0, shift = 24; i < n - 1; i++, shift -= 8) out.byte((group >>> shift) & 0xff)
  }
}

/**
 * One reading: within one revision an object is defined once; every classic cross-reference entry
 * in use lands on a definition of its own object; and where an object has several definitions, the
 * newest entry for it names the newest one. Files with cross-reference streams (PDF 1.5+) are
 * covered by the rewrite that follows validation (src/images/pdf.ts).
 */
function checkDefinitions(text: string, definitions: Map<number, number[]>, revisions: number): void {
  if (revisions === 1) {
    for (const [num, offsets] of definitions) {
      if (offsets.length > 1) throw unsafe('duplicate-object', `PDF defines object ${num} more than once`)
    }
  }
  const newest = new Map<number, number>()
  XREF_KEYWORD.lastIndex = 0
  for (let m = XREF_KEYWORD.exec(text); m; m = XREF_KEYWORD.exec(text)) {
    let at = m.index + m[0].length
    for (;;) {
      const sub = /^[ \t\r\n]*(\d{1,10})[ \t]+(\d{1,10})[ \t]*(\r\n|\n|\r)/.exec(text.slice(at, at + 40))
      if (!sub) break
      const start = Number(sub[1])
      const count = Number(sub[2])
      at += sub[0].length
      const entries = text.slice(at, at + count * 20 + 2)
      const ENTRY = /(\d{10})[ \t](\d{5})[ \t]([nf])/g
      let seen = 0
      for (let e = ENTRY.exec(entries); e && seen < count; e = ENTRY.exec(entries), seen++) {
        if (e[3] !== 'n') continue
        const num = start + seen
        const offset = Number(e[1])
        const defined = definitions.get(num)
        const target = skipWhitespace(text, offset)
        if (!defined?.includes(target))
          throw unsafe(
            'xref-mismatch',
            `The PDF's cross-reference entry for object ${num} does not point at its definition`,
          )
        newest.set(num, target)
      }
      at += count * 20
    }
  }
  for (const [num, offset] of newest) {
    const defined = definitions.get(num) as number[]
    if (defined.length > 1 && offset !== defined[defined.length - 1]) {
      throw unsafe(
        'xref-mismatch',
        `The PDF's newest cross-reference entry for object ${num} points at an older definition`,
      )
    }
  }
}

function skipWhitespace(text: string, at: number): number {
  let i = at
  while (i < text.length && ' \t\r\n\f\0'.includes(text[i] as string)) i++
  return i
}

function countOf(text: string, needle: string): number {
  let n = 0
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) n++
  return n
}

function unsafe(reason: string, message: string): LocalexError {
  return new LocalexError('UNSAFE_PDF', message, { details: { reason } })
}

export function limitExceeded(
  limit: 'inflatedBytes' | 'expansion' | 'objects' | 'pages',
  max: number,
  message: string,
): LocalexError {
  return new LocalexError('PDF_LIMIT_EXCEEDED', message, { details: { limit, max } })
}
