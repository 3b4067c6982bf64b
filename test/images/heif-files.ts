/**
 * HEIF surgery for tests: reads the box tree of a HEIC file and writes changed copies of it (a
 * rotation or mirror on the primary image, a grid that claims a huge canvas, a tile whose data is
 * broken), so that every hostile or transformed file a test needs is built from a real photo in
 * memory instead of being shipped.
 */

export interface Box {
  readonly type: string
  readonly start: number
  readonly size: number
  /** Where the payload starts (after the size/type header, and for full boxes not the version/flags). */
  readonly body: number
}

const CONTAINERS = new Set(['meta', 'iprp', 'ipco', 'iinf', 'iref', 'dinf'])
/** Full boxes: a version byte and 3 flag bytes before their payload. */
const FULL_BOXES = new Set(['meta', 'iinf', 'iref', 'pitm', 'iloc', 'ipma', 'ispe', 'hdlr', 'infe'])

/** The boxes of `file` in document order (containers before their children), each with its path. */
export function boxes(file: Buffer): (Box & { readonly path: string })[] {
  const out: (Box & { path: string })[] = []
  const walk = (start: number, end: number, parent: string) => {
    let at = start
    while (at + 8 <= end) {
      let size = file.readUInt32BE(at)
      const type = file.toString('latin1', at + 4, at + 8)
      let header = 8
      if (size === 1) {
        size = Number(file.readBigUInt64BE(at + 8))
        header = 16
      } else if (size === 0) {
        size = end - at
      }
      const body = at + header + (FULL_BOXES.has(type) ? 4 : 0)
      const path = parent ? `${parent}/${type}` : type
      out.push({ type, start: at, size, body, path })
      if (CONTAINERS.has(type)) {
        // iinf and iref carry a count before their children (iinf: 16 or 32 bits by version).
        const skip = type === 'iinf' ? (file[at + 8] === 0 ? 2 : 4) : 0
        walk(body + skip, at + size, path)
      }
      at += size
    }
  }
  walk(0, file.length, '')
  return out
}

export function box(file: Buffer, path: string): Box & { path: string } {
  const found = boxes(file).find((b) => b.path === path)
  if (!found) throw new Error(`no ${path} box`)
  return found
}

export function primaryItem(file: Buffer): number {
  const pitm = box(file, 'meta/pitm')
  return file[pitm.start + 8] === 0 ? file.readUInt16BE(pitm.body) : file.readUInt32BE(pitm.body)
}

export interface Extent {
  readonly offset: number
  readonly length: number
}

interface IlocItem {
  readonly id: number
  readonly method: number
  /** Where base_offset is written (undefined when base_offset_size is 0). */
  readonly baseAt?: number
  readonly extents: { readonly offsetAt: number; readonly offset: number; readonly length: number }[]
}

function readIloc(file: Buffer): { items: IlocItem[]; offsetSize: number; baseSize: number } {
  const iloc = box(file, 'meta/iloc')
  const version = file[iloc.start + 8] as number
  let at = iloc.body
  const offsetSize = (file[at] as number) >> 4
  const lengthSize = (file[at] as number) & 15
  const baseSize = (file[at + 1] as number) >> 4
  const indexSize = version >= 1 ? (file[at + 1] as number) & 15 : 0
  at += 2
  const read = (bytes: number) => {
    const value =
      bytes === 0
        ? 0
        : bytes === 4
          ? file.readUInt32BE(at)
          : bytes === 8
            ? Number(file.readBigUInt64BE(at))
            : file.readUInt16BE(at)
    at += bytes
    return value
  }
  const count = read(version < 2 ? 2 : 4)
  const items: IlocItem[] = []
  for (let i = 0; i < count; i++) {
    const id = read(version < 2 ? 2 : 4)
    const method = version >= 1 ? read(2) & 15 : 0
    read(2) // data_reference_index
    const baseAt = baseSize ? at : undefined
    const base = read(baseSize)
    const extents: IlocItem['extents'][number][] = []
    for (let n = read(2); n > 0; n--) {
      read(indexSize)
      const offsetAt = at
      const offset = read(offsetSize)
      extents.push({ offsetAt, offset: base + offset, length: read(lengthSize) })
    }
    items.push({ id, method, ...(baseAt === undefined ? {} : { baseAt }), extents })
  }
  return { items, offsetSize, baseSize }
}

/** Where an item's data lies in the file (items stored in `mdat`, construction method 0). */
export function itemExtents(file: Buffer, id: number): Extent[] {
  const item = readIloc(file).items.find((i) => i.id === id)
  if (!item || item.method !== 0) throw new Error(`item ${id} is not stored in the file`)
  return item.extents.map(({ offset, length }) => ({ offset, length }))
}

/** Items the primary image is derived from (`dimg`): a grid's tiles in order; empty for a single image. */
export function gridTiles(file: Buffer): number[] {
  const iref = box(file, 'meta/iref')
  const wide = file[iref.start + 8] !== 0
  const primary = primaryItem(file)
  for (const ref of boxes(file).filter((b) => b.path === 'meta/iref/dimg')) {
    let at = ref.start + 8
    const id = () => {
      const v = wide ? file.readUInt32BE(at) : file.readUInt16BE(at)
      at += wide ? 4 : 2
      return v
    }
    if (id() !== primary) continue
    const count = file.readUInt16BE(at)
    at += 2
    return Array.from({ length: count }, id)
  }
  return []
}

/** The property boxes of `ipco`, in order (ipma refers to them by 1-based index). */
function properties(file: Buffer): (Box & { path: string })[] {
  return boxes(file).filter((b) => b.path.startsWith('meta/iprp/ipco/') && b.path.split('/').length === 4)
}

interface Association {
  readonly index: number
  /** Byte offset of this association's index in ipma. */
  readonly at: number
}

function associations(
  file: Buffer,
  item: number,
): { entryAt: number; countAt: number; list: Association[]; wide: boolean } {
  const ipma = box(file, 'meta/iprp/ipma')
  const version = file[ipma.start + 8] as number
  const wide = ((file[ipma.start + 11] as number) & 1) === 1
  let at = ipma.body
  const entries = file.readUInt32BE(at)
  at += 4
  for (let e = 0; e < entries; e++) {
    const entryAt = at
    const id = version < 1 ? file.readUInt16BE(at) : file.readUInt32BE(at)
    at += version < 1 ? 2 : 4
    const countAt = at
    const count = file[at] as number
    at += 1
    const list: Association[] = []
    for (let a = 0; a < count; a++) {
      list.push({ index: wide ? file.readUInt16BE(at) & 0x7fff : (file[at] as number) & 0x7f, at })
      at += wide ? 2 : 1
    }
    if (id === item) return { entryAt, countAt, list, wide }
  }
  throw new Error(`item ${item} has no properties`)
}

/** The primary image's properties of `type` (e.g. `ispe`, `irot`), as boxes. */
export function primaryProperties(file: Buffer, type: string): Box[] {
  const props = properties(file)
  return associations(file, primaryItem(file))
    .list.map((a) => props[a.index - 1])
    .filter((p): p is Box & { path: string } => p !== undefined && p.type === type)
}

/**
 * A copy of `file` whose primary image carries `transforms` (irot: quarter turns anticlockwise;
 * imir: 0 = top-bottom axis, i.e. a left-right flip, 1 = left-right axis) after its other
 * properties, in the given order. Existing irot/imir properties of the primary image are kept; put
 * `irot: 0` first to neutralise one in place instead.
 */
export function withTransforms(file: Buffer, transforms: readonly ({ irot: number } | { imir: number })[]): Buffer {
  const ipco = box(file, 'meta/iprp/ipco')
  const added = transforms.map((t) =>
    Buffer.from([0, 0, 0, 9, ...Buffer.from('irot' in t ? 'irot' : 'imir'), 'irot' in t ? t.irot : t.imir]),
  )
  const firstNew = properties(file).length + 1
  const { countAt, list, wide } = associations(file, primaryItem(file))
  const lastAssoc = list.length ? (list[list.length - 1] as Association).at + (wide ? 2 : 1) : countAt + 1
  const assocBytes = Buffer.concat(
    added.map((_, i) => {
      const b = Buffer.alloc(wide ? 2 : 1)
      if (wide) b.writeUInt16BE(0x8000 | (firstNew + i))
      else b[0] = 0x80 | (firstNew + i) // transformative properties are essential
      return b
    }),
  )
  const propBytes = Buffer.concat(added)
  // Two insertions: the property boxes at the end of ipco, the associations after the item's last.
  const ipcoEnd = ipco.start + ipco.size
  const out = Buffer.concat([
    file.subarray(0, ipcoEnd),
    propBytes,
    file.subarray(ipcoEnd, lastAssoc),
    assocBytes,
    file.subarray(lastAssoc),
  ])
  const shiftAt = (pos: number) =>
    pos + (pos >= ipcoEnd ? propBytes.length : 0) + (pos >= lastAssoc ? assocBytes.length : 0)
  // Grow the boxes that contain the insertions, and the primary item's association count.
  for (const b of boxes(file)) {
    const grows =
      (['meta', 'meta/iprp', 'meta/iprp/ipco'].includes(b.path) ? propBytes.length : 0) +
      (['meta', 'meta/iprp', 'meta/iprp/ipma'].includes(b.path) ? assocBytes.length : 0)
    if (grows) out.writeUInt32BE(b.size + grows, shiftAt(b.start))
  }
  out[shiftAt(countAt)] = list.length + added.length
  shiftFileOffsets(out, propBytes.length + assocBytes.length, ipcoEnd)
  return out
}

/** iloc offsets into the file move with the data, which now lies `delta` bytes further on. */
function shiftFileOffsets(out: Buffer, delta: number, from: number): void {
  const { items, offsetSize, baseSize } = readIloc(out)
  const write = (at: number, size: number, value: number) =>
    size === 8 ? out.writeBigUInt64BE(BigInt(value), at) : out.writeUInt32BE(value, at)
  for (const item of items) {
    if (item.method !== 0) continue
    if (item.baseAt !== undefined) {
      const base = baseSize === 8 ? Number(out.readBigUInt64BE(item.baseAt)) : out.readUInt32BE(item.baseAt)
      if (base >= from) write(item.baseAt, baseSize, base + delta)
    } else {
      for (const e of item.extents) if (e.offset >= from) write(e.offsetAt, offsetSize, e.offset + delta)
    }
  }
}

/** A copy whose primary image (and its grid descriptor, when it is a grid) claims `width`×`height`. */
export function claimingSize(file: Buffer, width: number, height: number, { grid = true, ispe = true } = {}): Buffer {
  const out = Buffer.from(file)
  if (ispe) {
    for (const p of primaryProperties(out, 'ispe')) {
      out.writeUInt32BE(width, p.body)
      out.writeUInt32BE(height, p.body + 4)
    }
  }
  if (grid) {
    // The grid descriptor lives in idat (construction method 1): version, flags, rows-1, columns-1,
    // then the output size in 16 or 32 bits by flag bit 0.
    const idat = box(out, 'meta/idat')
    const wide = ((out[idat.body + 1] as number) & 1) === 1
    if (wide) {
      out.writeUInt32BE(width, idat.body + 4)
      out.writeUInt32BE(height, idat.body + 8)
    } else {
      out.writeUInt16BE(width, idat.body + 4)
      out.writeUInt16BE(height, idat.body + 6)
    }
  }
  return out
}
