import type { Api } from './api.js'
import { pictureFor } from './picture.js'
import { placeholderDataUrl } from './placeholder.js'
import type { FileView } from './types.js'
import { el, formatBytes, messageOf } from './ui.js'

/** Slot widths for `sizes`: cards are 100% of a phone's width, about 320 CSS px otherwise. */
export const CARD_SIZES = '(max-width: 640px) 100vw, 320px'

/**
 * An item's photos, in order: each card shows the placeholder at once, then the picture and the
 * variant table when the variants are ready; cards can be moved and deleted. The list itself is
 * GET /v1/items/{itemId}/photos (public); changes need the owner's (or an admin's) token.
 */
export class PhotoGallery {
  #photos: FileView[] = []
  #polling = new Map<string, Promise<FileView>>()

  constructor(
    private readonly api: Api,
    private readonly list: HTMLOListElement,
    private readonly itemId: () => string,
    private readonly onError: (message: string) => void,
  ) {}

  async load(): Promise<void> {
    const { photos } = await this.api.request<{ photos: FileView[] }>(
      'GET',
      `/v1/items/${encodeURIComponent(this.itemId())}/photos`,
    )
    this.#photos = photos
    this.render()
    for (const photo of photos) void this.#watch(photo)
  }

  /** A photo the API just accepted: shown at once (placeholder), then polled until ready. */
  add(view: FileView): Promise<FileView> {
    this.#photos = [...this.#photos.filter((p) => p.id !== view.id), view]
    this.render()
    return this.#watch(view)
  }

  render(): void {
    this.list.replaceChildren(...this.#photos.map((photo, index) => this.#card(photo, index)))
  }

  /** Polls a photo being processed, updating its card; resolves with it once settled. */
  #watch(view: FileView): Promise<FileView> {
    const known = this.#polling.get(view.id)
    if (known) return known
    if (view.status !== 'processing' && view.status !== 'uploading') return Promise.resolve(view)
    const settled = this.api.waitForFile(view.id, (latest) => this.#update(latest))
    this.#polling.set(view.id, settled)
    settled.catch((error: unknown) => this.onError(messageOf(error))).finally(() => this.#polling.delete(view.id))
    return settled
  }

  #update(view: FileView): void {
    const index = this.#photos.findIndex((p) => p.id === view.id)
    if (index < 0) return
    const before = this.#photos[index]
    this.#photos[index] = view
    if (before?.status === view.status && before.variants.length === view.variants.length) return
    this.list.querySelector(`[data-file-id="${CSS.escape(view.id)}"]`)?.replaceWith(this.#card(view, index))
  }

  async #move(index: number, by: -1 | 1): Promise<void> {
    const ids = this.#photos.map((p) => p.id)
    const [moved] = ids.splice(index, 1)
    if (moved === undefined) return
    ids.splice(index + by, 0, moved)
    try {
      const { photos } = await this.api.request<{ photos: FileView[] }>(
        'PUT',
        `/v1/items/${encodeURIComponent(this.itemId())}/photos/order`,
        { fileIds: ids },
      )
      this.#photos = photos
      this.render()
    } catch (error) {
      this.onError(messageOf(error))
    }
  }

  async #delete(id: string): Promise<void> {
    try {
      await this.api.request('DELETE', `/v1/files/${encodeURIComponent(id)}`)
      await this.load()
    } catch (error) {
      this.onError(messageOf(error))
    }
  }

  #card(photo: FileView, index: number): HTMLLIElement {
    const ready = photo.status === 'ready' && photo.variants.some((v) => v.url)
    const figure = el('figure', {})
    if (ready) {
      figure.append(pictureFor(photo, { sizes: CARD_SIZES, alt: photo.originalName }))
    } else {
      // Not ready yet: the placeholder alone, in the photo's aspect ratio.
      const src = placeholderDataUrl(photo.placeholder)
      figure.append(
        el('img', { class: 'placeholder', src, alt: '', width: photo.width ?? 4, height: photo.height ?? 3 }),
      )
    }
    figure.append(
      el(
        'figcaption',
        {},
        el('strong', {}, photo.originalName),
        ' ',
        el(
          'span',
          { class: `status status-${photo.status}` },
          photo.status === 'processing' ? 'making variants…' : photo.status,
        ),
        photo.width && photo.height ? ` · ${photo.width}×${photo.height}` : '',
        ` · ${formatBytes(photo.bytes)}`,
        photo.errorReason ? el('span', { class: 'error' }, ` ${photo.errorReason}`) : null,
      ),
    )

    const controls = el(
      'div',
      { class: 'controls' },
      button('←', 'Move earlier', index === 0, () => this.#move(index, -1)),
      button('→', 'Move later', index === this.#photos.length - 1, () => this.#move(index, 1)),
      button('Delete', 'Delete this photo', false, () => this.#delete(photo.id)),
    )

    return el(
      'li',
      { class: 'photo', 'data-file-id': photo.id, 'data-status': photo.status, 'data-position': index },
      figure,
      controls,
      variantTable(photo),
    )
  }
}

/** Every stored variant: name, format, pixel size, bytes, and a link to it. */
export function variantTable(file: FileView): HTMLElement {
  const rows = [...file.variants]
    .sort((a, b) => (a.width ?? 0) - (b.width ?? 0) || a.format.localeCompare(b.format))
    .map((v) =>
      el(
        'tr',
        {
          class: 'variant',
          'data-variant': v.variant,
          'data-format': v.format,
          'data-width': v.width,
          'data-height': v.height,
          'data-bytes': v.size,
        },
        el('td', {}, v.variant),
        el('td', {}, v.format),
        el('td', {}, v.width && v.height ? `${v.width}×${v.height}` : '—'),
        el('td', { class: 'bytes' }, `${v.size.toLocaleString('en')} B`),
        el('td', {}, v.url ? el('a', { href: v.url, target: '_blank', rel: 'noopener' }, 'open') : 'signed URL'),
      ),
    )
  return el(
    'details',
    { class: 'variants' },
    el('summary', {}, `${file.variants.length} variants`),
    el(
      'table',
      {},
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          el('th', {}, 'variant'),
          el('th', {}, 'format'),
          el('th', {}, 'pixels'),
          el('th', {}, 'size'),
          el('th', {}, ''),
        ),
      ),
      el('tbody', {}, ...rows),
    ),
  )
}

function button(label: string, title: string, disabled: boolean, onClick: () => unknown): HTMLButtonElement {
  const b = el('button', { type: 'button', title, 'aria-label': title, disabled }, label)
  b.addEventListener('click', () => void onClick())
  return b
}
