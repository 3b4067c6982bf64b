import type { Sharp } from 'sharp'
import type { OutputFormat } from './types.js'

/**
 * Encoder settings, chosen by measurement (docs/images.md has the numbers; `npm run bench:images`
 * reproduces them). In short, on a 12 MP photo:
 * - mozjpeg's full preset (`mozjpeg: true`) spends ~1.2 s per full-size JPEG, mostly in
 *   `optimize_scans`; trellis quantisation + overshoot deringing + table 3 without scan optimisation
 *   gives the same PSNR and bytes within 0.5 % in half the time (`compact`);
 * - progressive + table 3 without trellis is ~3× cheaper again but 15 % larger (`fast`);
 * - full-size WebP at effort 2 is 2× cheaper than effort 4 for +3 % bytes; small variants keep effort 4.
 */
export type EncoderProfile = 'compact' | 'fast'

/**
 * The sanitised original of the synchronous path: upright, sRGB, metadata-free pixels stored in a
 * format that is cheap to write and close enough to lossless to be encoded once more. A sequential
 * quality-100 JPEG with standard Huffman tables costs less than libjpeg-turbo's default encode (no
 * second Huffman pass over a whole-image coefficient buffer), and what the job renders from it is
 * within 0.05 dB and 1 % bytes of what it would render from the upload. Lower qualities leave
 * quantisation noise that the WebP encoder then spends bytes on (+5–7 % in all at quality 95;
 * docs/images.md). It lives for seconds, so its size (about twice the upload's) costs little.
 * Chroma is subsampled like the outputs', except for documents. PNG when transparent, at a low
 * compression level for the same reason.
 */
export function applySanitisedEncoder(image: Sharp, format: 'jpeg' | 'png', document: boolean): Sharp {
  return format === 'png'
    ? image.png({ compressionLevel: 1, adaptiveFiltering: false, palette: false })
    : image.jpeg({
        quality: 100,
        chromaSubsampling: document ? '4:4:4' : '4:2:0',
        optimiseCoding: false,
        progressive: false,
        mozjpeg: false,
      })
}

export interface EncodeTarget {
  readonly format: OutputFormat
  readonly quality: number
  /** Full-size outputs get cheaper WebP/AVIF effort than small variants. */
  readonly large: boolean
  /** Documents keep full chroma resolution for small print. */
  readonly document: boolean
  readonly profile: EncoderProfile
}

/** Outputs whose longest side is at least this are "large" for the effort choice. */
export const LARGE_OUTPUT_SIDE = 1600

export function applyEncoder(image: Sharp, t: EncodeTarget): Sharp {
  switch (t.format) {
    case 'jpeg':
      return image.jpeg({
        quality: t.quality,
        progressive: true,
        chromaSubsampling: t.document ? '4:4:4' : '4:2:0',
        quantisationTable: 3,
        trellisQuantisation: t.profile === 'compact',
        overshootDeringing: t.profile === 'compact',
        optimiseScans: false,
        mozjpeg: false,
      })
    case 'png':
      return image.png({ compressionLevel: 9, adaptiveFiltering: true, palette: false })
    case 'webp':
      return image.webp({ quality: t.quality, effort: t.large ? 2 : 4, smartSubsample: false })
    case 'avif':
      // AVIF's quality scale runs lower than JPEG's for the same look; effort 4 of 9 keeps it tolerable.
      return image.avif({ quality: Math.max(1, t.quality - 25), effort: t.large ? 2 : 4, chromaSubsampling: '4:2:0' })
  }
}
