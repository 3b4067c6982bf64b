import { thumbHashToDataURL } from 'thumbhash'

/**
 * The API sends a ThumbHash (about 25 bytes, base64) with every image as soon as the upload is
 * stored. Decoded here into a tiny PNG data URL, stretched to the image's box, it stands in for
 * the picture until the variants are ready (and behind them while they load).
 */
export function placeholderDataUrl(thumbhash: string | null): string | undefined {
  if (!thumbhash) return undefined
  try {
    const bytes = Uint8Array.from(atob(thumbhash), (c) => c.charCodeAt(0))
    return thumbHashToDataURL(bytes)
  } catch {
    return undefined
  }
}
