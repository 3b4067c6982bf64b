/**
 * Recognises ICC profiles that describe sRGB (matrix/TRC profiles with sRGB primaries and an sRGB
 * tone curve), so that the pipeline can skip lcms' colour transform for them: it costs about 0.4 s
 * of CPU on a 12 MP photo and changes no pixel for such a profile (measured on the 12 MP fixture:
 * identical output). Anything else (Display P3, Adobe RGB, linear-light Rec.709, LUT-based
 * profiles, CMYK, grey) is not sRGB here and goes through the real transform.
 */

/** sRGB primaries adapted to D50, as every v2/v4 sRGB matrix profile stores them (rXYZ, gXYZ, bXYZ). */
const SRGB_COLORANTS = {
  rXYZ: [0.4361, 0.2225, 0.0139],
  gXYZ: [0.3851, 0.7169, 0.0971],
  bXYZ: [0.1431, 0.0606, 0.7141],
} as const
const COLORANT_TOLERANCE = 0.003
/** Largest allowed difference of the tone curve, in encoded 8-bit steps: below one step it is sRGB. */
const TRC_TOLERANCE = 0.5 / 255

export function isSrgbProfile(icc: Uint8Array | undefined): boolean {
  if (!icc || icc.length < 132) return false
  try {
    const view = new DataView(icc.buffer, icc.byteOffset, icc.byteLength)
    const sig = (at: number) => String.fromCharCode(icc[at] ?? 0, icc[at + 1] ?? 0, icc[at + 2] ?? 0, icc[at + 3] ?? 0)
    if (sig(16) !== 'RGB ' || sig(36) !== 'acsp') return false
    const tags = new Map<string, { offset: number; size: number }>()
    const count = view.getUint32(128)
    if (count > 100) return false
    for (let i = 0; i < count; i++) {
      const at = 132 + i * 12
      tags.set(sig(at), { offset: view.getUint32(at + 4), size: view.getUint32(at + 8) })
    }
    // LUT-based profiles may map colours differently from their matrix: let lcms decide.
    if (tags.has('A2B0') || tags.has('A2B1') || tags.has('A2B2')) return false
    const s15 = (at: number) => view.getInt32(at) / 65536
    for (const [name, expected] of Object.entries(SRGB_COLORANTS)) {
      const tag = tags.get(name)
      if (!tag || sig(tag.offset) !== 'XYZ ') return false
      for (let c = 0; c < 3; c++) {
        if (Math.abs(s15(tag.offset + 8 + c * 4) - (expected[c] as number)) > COLORANT_TOLERANCE) return false
      }
    }
    for (const name of ['rTRC', 'gTRC', 'bTRC']) {
      const tag = tags.get(name)
      if (!tag) return false
      const curve = readCurve(view, sig, tag.offset)
      if (!curve || !matchesSrgb(curve)) return false
    }
    return true
  } catch {
    // A profile too short or malformed to read is not a recognised sRGB profile.
    return false
  }
}

type Curve = (x: number) => number

function readCurve(view: DataView, sig: (at: number) => string, at: number): Curve | undefined {
  const type = sig(at)
  if (type === 'curv') {
    const n = view.getUint32(at + 8)
    if (n === 0) return (x) => x
    if (n === 1) {
      const gamma = view.getUint16(at + 12) / 256
      return (x) => x ** gamma
    }
    const table = Array.from({ length: n }, (_, i) => view.getUint16(at + 12 + i * 2) / 65535)
    return (x) => {
      const pos = x * (n - 1)
      const i = Math.min(n - 2, Math.floor(pos))
      const f = pos - i
      return (table[i] as number) * (1 - f) + (table[i + 1] as number) * f
    }
  }
  if (type === 'para') {
    const fn = view.getUint16(at + 8)
    const counts = [1, 3, 4, 5, 7]
    const k = counts[fn]
    if (k === undefined) return undefined
    const p = Array.from({ length: k }, (_, i) => view.getInt32(at + 12 + i * 4) / 65536)
    const [g = 1, a = 1, b = 0, c = 0, d = 0, e = 0, f = 0] = p
    switch (fn) {
      case 0:
        return (x) => x ** g
      case 1:
        return (x) => (x >= -b / a ? (a * x + b) ** g : 0)
      case 2:
        return (x) => (x >= -b / a ? (a * x + b) ** g + c : c)
      case 3:
        return (x) => (x >= d ? (a * x + b) ** g : c * x)
      default:
        return (x) => (x >= d ? (a * x + b) ** g + e : c * x + f)
    }
  }
  return undefined
}

function srgbEncode(linear: number): number {
  const y = Math.min(1, Math.max(0, linear))
  return y <= 0.0031308 ? 12.92 * y : 1.055 * y ** (1 / 2.4) - 0.055
}

function matchesSrgb(curve: Curve): boolean {
  for (let i = 0; i <= 255; i += 3) {
    const x = i / 255
    if (Math.abs(srgbEncode(curve(x)) - x) > TRC_TOLERANCE) return false
  }
  return true
}
