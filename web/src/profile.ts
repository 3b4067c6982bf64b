import { ApiError, type Api } from './api.js'
import { pictureFor } from './picture.js'
import { placeholderDataUrl } from './placeholder.js'
import type { FileView } from './types.js'
import { el } from './ui.js'

/** The signed-in user's profile photo: GET /v1/users/me/profile-photo; a new upload replaces it. */
export class ProfilePhoto {
  constructor(
    private readonly api: Api,
    private readonly box: HTMLElement,
  ) {}

  async load(): Promise<void> {
    try {
      this.show(await this.api.request<FileView>('GET', '/v1/users/me/profile-photo'))
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error
      this.box.replaceChildren(el('p', { class: 'empty' }, 'No profile photo yet.'))
    }
  }

  /** Shows `view` (placeholder first), then polls until its variants are ready. */
  set(view: FileView): Promise<FileView> {
    this.show(view)
    return this.api.waitForFile(view.id, (latest) => this.show(latest))
  }

  show(view: FileView): void {
    const ready = view.status === 'ready' && view.variants.some((v) => v.url)
    const image = ready
      ? pictureFor(view, { sizes: '160px', alt: 'Profile photo' })
      : el('img', {
          class: 'placeholder',
          src: placeholderDataUrl(view.placeholder),
          alt: '',
          width: view.width ?? 1,
          height: view.height ?? 1,
        })
    this.box.replaceChildren(el('div', { class: 'avatar', 'data-file-id': view.id, 'data-status': view.status }, image))
  }
}
