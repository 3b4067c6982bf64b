import { createDeflate } from 'node:zlib'

/**
 * Hand-written PDFs for the hostile corpus: the file text is built object by object, so that a test
 * can define an object twice, point the cross-reference table where it likes, append incremental
 * updates, or put any bytes in a stream.
 */

export interface RawObject {
  num: number
  /** The object's body, between `N 0 obj` and `endobj`; for a stream, the dictionary. */
  body: string
  /** Stream data (the dictionary's `/Length` is added). */
  stream?: Buffer
}

export interface Revision {
  objects: RawObject[]
  /**
   * Object number → index (into this revision's `objects`) of the definition its xref entry names;
   * default the last.
   */
  xref?: Record<number, number>
}

/** A page and a catalog whose `/OpenAction` is object 4: objects 1–3 of most documents below. */
export const BASE_OBJECTS: RawObject[] = [
  { num: 1, body: '<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>' },
  { num: 2, body: '<< /Type /Pages /Kids [3 0 R] /Count 1 >>' },
  { num: 3, body: '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>' },
]

export const JS_ACTION = '<< /Type /Action /S /JavaScript /JS (app.alert\\("pwned"\\)) >>'
export const GOTO_ACTION = '<< /Type /Action /S /GoTo /D [3 0 R /Fit] >>'

/** Writes the revisions one after the other (incremental updates), each with its own classic xref table. */
export function rawPdf(revisions: Revision[]): Buffer {
  const parts: Buffer[] = [Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1')]
  let length = parts[0]?.length ?? 0
  const push = (b: Buffer) => {
    parts.push(b)
    length += b.length
  }
  let previousXref: number | undefined
  let size = 0
  for (const revision of revisions) {
    const offsets = new Map<number, number[]>()
    for (const object of revision.objects) {
      offsets.set(object.num, [...(offsets.get(object.num) ?? []), length])
      if (object.stream) {
        const dict = object.body.replace(/>>\s*$/, ` /Length ${object.stream.length} >>`)
        push(Buffer.from(`${object.num} 0 obj\n${dict}\nstream\n`, 'latin1'))
        push(object.stream)
        push(Buffer.from('\nendstream\nendobj\n', 'latin1'))
      } else {
        push(Buffer.from(`${object.num} 0 obj\n${object.body}\nendobj\n`, 'latin1'))
      }
    }
    const xrefAt = length
    const nums = [...offsets.keys()].sort((a, b) => a - b)
    size = Math.max(size, (nums[nums.length - 1] ?? 0) + 1)
    let table = 'xref\n'
    if (previousXref === undefined) {
      table += `0 ${size}\n0000000000 65535 f \n`
      for (let n = 1; n < size; n++) table += entry(offsets.get(n), revision.xref?.[n])
    } else {
      for (const n of nums) table += `${n} 1\n${entry(offsets.get(n), revision.xref?.[n])}`
    }
    table +=
      `trailer\n<< /Size ${size} /Root 1 0 R${previousXref === undefined ? '' : ` /Prev ${previousXref}`} ` +
      `>>\nstartxref\n${xrefAt}\n%%EOF\n`
    push(Buffer.from(table, 'latin1'))
    previousXref = xrefAt
  }
  return Buffer.concat(parts)
}

function entry(offsets: number[] | undefined, index: number | undefined): string {
  if (!offsets) return '0000000000 65535 f \n'
  const offset = offsets[index ?? offsets.length - 1] as number
  return `${String(offset).padStart(10, '0')} 00000 n \n`
}

/** A one-page document whose `/OpenAction` is the given action dictionary. */
export function withOpenAction(action: string): Buffer {
  return rawPdf([{ objects: [...BASE_OBJECTS, { num: 4, body: action }] }])
}

/** A one-page document with a link annotation whose `/A` is the given action. */
export function withLink(action: string): Buffer {
  return rawPdf([
    {
      objects: [
        { num: 1, body: '<< /Type /Catalog /Pages 2 0 R >>' },
        BASE_OBJECTS[1] as RawObject,
        { num: 3, body: '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Annots [4 0 R] >>' },
        { num: 4, body: `<< /Type /Annot /Subtype /Link /Rect [0 0 100 100] /A ${action} >>` },
      ],
    },
  ])
}

/** `bytes` zeros, deflated `layers` times (streamed: never held whole). */
export async function deflatedZeros(bytes: number, layers = 1): Promise<Buffer> {
  let data = await deflateStream(bytes)
  for (let i = 1; i < layers; i++) data = await deflateBuffer(data)
  return data
}

function deflateStream(bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = []
    const z = createDeflate({ level: 9 })
    z.on('data', (c: Buffer) => out.push(c))
    z.on('end', () => resolve(Buffer.concat(out)))
    z.on('error', reject)
    const chunk = Buffer.alloc(1024 * 1024)
    let left = bytes
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length)
        left -= n
        if (!z.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return z.once('drain', pump)
      }
      z.end()
    }
    pump()
  })
}

function deflateBuffer(data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = []
    const z = createDeflate({ level: 9 })
    z.on('data', (c: Buffer) => out.push(c))
    z.on('end', () => resolve(Buffer.concat(out)))
    z.on('error', reject)
    z.end(data)
  })
}

/** A one-page document whose page content stream is `data` with the given `/Filter`. */
export function withContentStream(data: Buffer, filter: string): Buffer {
  return rawPdf([
    {
      objects: [
        { num: 1, body: '<< /Type /Catalog /Pages 2 0 R >>' },
        BASE_OBJECTS[1] as RawObject,
        { num: 3, body: '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>' },
        { num: 4, body: `<< /Filter ${filter} >>`, stream: data },
      ],
    },
  ])
}
