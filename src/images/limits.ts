import type { ImagesConfig } from '../config/index.js'
import { LocalexError } from '../errors/index.js'

/**
 * The input size limits every format is held to, wherever its size is read (our header readers,
 * libvips' header, a HEIF container): one place for the rule and its messages.
 */
export function checkDimensions(
  width: number,
  height: number,
  limits: Pick<ImagesConfig, 'maxInputSide' | 'maxInputPixels'>,
): void {
  if (width < 1 || height < 1)
    throw new LocalexError('INVALID_IMAGE', 'Image has no pixels', { details: { width, height } })
  if (width > limits.maxInputSide || height > limits.maxInputSide) {
    throw new LocalexError(
      'DIMENSIONS_TOO_LARGE',
      `Image is ${width}x${height}; each side may be at most ${limits.maxInputSide} px`,
      { details: { width, height, maxInputSide: limits.maxInputSide } },
    )
  }
  if (width * height > limits.maxInputPixels) {
    throw new LocalexError(
      'DIMENSIONS_TOO_LARGE',
      `Image has ${width * height} pixels; at most ${limits.maxInputPixels} are accepted`,
      { details: { width, height, maxInputPixels: limits.maxInputPixels } },
    )
  }
}
