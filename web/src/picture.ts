import { placeholderDataUrl } from './placeholder.js'
import type { FileVariant, FileView } from './types.js'

/**
 * Responsive markup for a stored photo: the example to copy. For a ready photo with the default
 * variants (thumbnail 300, medium 800, large 1200; JPEG and WebP) it builds
 *
 * ```html
 * <picture>
 *   <source type="image/webp"
 *           srcset=".../thumbnail.webp 300w, .../medium.webp 800w, .../large.webp 1200w"
 *           sizes="(max-width: 600px) 100vw, 400px">
 *   <img src=".../medium.jpg"
 *        srcset=".../thumbnail.jpg 300w, .../medium.jpg 800w, .../large.jpg 1200w"
 *        sizes="(max-width: 600px) 100vw, 400px"
 *        width="1200" height="800" alt="..." loading="lazy" decoding="async"
 *        style="background: url(data:image/png;base64,...) center / cover">
 * </picture>
 * ```
 *
 * - The browser takes the first `<source>` whose type it supports, so WebP wins where it can and
 *   JPEG is the fallback; from the chosen `srcset` it picks the smallest variant that covers the
 *   slot given by `sizes` times the screen's pixel density.
 * - `w` descriptors are the variants' real widths (from the API), not their nominal sizes.
 * - `width`/`height` give the box its aspect ratio before anything loads (no layout shift); the
 *   ThumbHash placeholder fills that box meanwhile.
 * - Public files carry their URLs; others need GET /v1/files/{id}/url per variant (not done here).
 */
export function pictureFor(file: FileView, options: { sizes: string; alt: string }): HTMLPictureElement {
  const picture = document.createElement('picture')
  // The sized variants only: the optimised original is for downloads and zoom, not for layout.
  const byFormat = (format: string) =>
    file.variants
      .filter((v) => v.format === format && v.variant !== 'original' && v.url && v.width)
      .sort((a, b) => (a.width ?? 0) - (b.width ?? 0))
  const webp = byFormat('webp')
  const jpeg = byFormat('jpeg')
  const fallback = jpeg.length ? jpeg : byFormat('png')

  if (webp.length) {
    const source = document.createElement('source')
    source.type = 'image/webp'
    source.srcset = srcset(webp)
    source.sizes = options.sizes
    picture.append(source)
  }

  const img = document.createElement('img')
  const middle = fallback[Math.floor(fallback.length / 2)] ?? webp[Math.floor(webp.length / 2)]
  img.src = middle?.url ?? file.url ?? ''
  if (fallback.length) {
    img.srcset = srcset(fallback)
    img.sizes = options.sizes
  }
  if (file.width && file.height) {
    img.width = file.width
    img.height = file.height
  }
  img.alt = options.alt
  img.loading = 'lazy'
  img.decoding = 'async'
  const placeholder = placeholderDataUrl(file.placeholder)
  if (placeholder) img.style.background = `url("${placeholder}") center / cover no-repeat`
  else if (file.dominantColor) img.style.background = file.dominantColor
  picture.append(img)
  return picture
}

function srcset(variants: FileVariant[]): string {
  return variants.map((v) => `${v.url} ${v.width}w`).join(', ')
}
