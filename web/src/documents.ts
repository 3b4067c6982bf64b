import { ApiError, type Api } from './api.js'
import type { FileView } from './types.js'
import { el, formatBytes, messageOf } from './ui.js'

/**
 * The signed-in user's verification documents. They are private: only their owner and admins get
 * metadata or a (short-lived, signed) URL; anyone else gets 404, as if the file did not exist.
 * "Who can open it?" asks the API as four callers and shows each answer.
 */
export class DocumentList {
  #polling = new Map<string, Promise<FileView>>()

  constructor(
    private readonly api: Api,
    private readonly list: HTMLUListElement,
    /** Mints a token for another caller (development sign-in), or null when the service has none. */
    private readonly tokenFor: (userId: string, admin: boolean) => Promise<string | null>,
    private readonly otherUser: () => string,
  ) {}

  async load(): Promise<void> {
    const { documents } = await this.api.request<{ documents: FileView[] }>('GET', '/v1/verification-documents')
    this.list.replaceChildren(...documents.map((d) => this.#card(d)))
    for (const d of documents) void this.#watch(d)
  }

  add(view: FileView): Promise<FileView> {
    this.list.querySelector(`[data-file-id="${CSS.escape(view.id)}"]`)?.remove()
    this.list.prepend(this.#card(view))
    return this.#watch(view)
  }

  /** Polls a document being processed, updating its card; resolves with it once settled. */
  #watch(view: FileView): Promise<FileView> {
    const known = this.#polling.get(view.id)
    if (known) return known
    if (view.status !== 'processing' && view.status !== 'uploading') return Promise.resolve(view)
    const settled = this.api.waitForFile(view.id, (latest) =>
      this.list.querySelector(`[data-file-id="${CSS.escape(view.id)}"]`)?.replaceWith(this.#card(latest)),
    )
    this.#polling.set(view.id, settled)
    settled.catch(() => undefined).finally(() => this.#polling.delete(view.id))
    return settled
  }

  #card(doc: FileView): HTMLLIElement {
    const link = el('span', { class: 'link' })
    const results = el('ul', { class: 'access-results' })
    const open = el('button', { type: 'button', class: 'open' }, 'Get a download link')
    open.addEventListener('click', () => {
      void this.api.fileUrl(doc.id).then(
        (signed) =>
          link.replaceChildren(
            el('a', { href: signed.url, class: 'download' }, 'download'),
            signed.expiresAt ? ` (expires ${new Date(signed.expiresAt).toLocaleTimeString()})` : '',
          ),
        (error: unknown) => link.replaceChildren(el('span', { class: 'error' }, messageOf(error))),
      )
    })
    const check = el('button', { type: 'button', class: 'check-access' }, 'Who can open it?')
    check.addEventListener('click', () => void this.#checkAccess(doc, results))
    return el(
      'li',
      { class: 'document', 'data-file-id': doc.id, 'data-status': doc.status },
      el(
        'div',
        {},
        el('strong', {}, doc.documentType ?? 'document'),
        ` ${doc.originalName} · ${formatBytes(doc.bytes)} · `,
        el('span', { class: `status status-${doc.status}` }, doc.status),
        ` · ${doc.accessLevel}`,
      ),
      el('div', { class: 'controls' }, open, check, link),
      results,
    )
  }

  /** Asks for the document's URL as its owner, another user, an admin and nobody; shows each answer. */
  async #checkAccess(doc: FileView, results: HTMLUListElement): Promise<void> {
    results.replaceChildren()
    const other = this.otherUser()
    const callers: Array<{ who: string; label: string; token: () => Promise<string | null> }> = [
      { who: 'owner', label: `${doc.ownerId} (owner)`, token: async () => this.api.token },
      { who: 'other', label: `${other} (another user)`, token: () => this.tokenFor(other, false) },
      { who: 'admin', label: 'admin', token: () => this.tokenFor('admin', true) },
      { who: 'anonymous', label: 'anonymous', token: async () => null },
    ]
    for (const caller of callers) {
      const row = el('li', { 'data-who': caller.who }, `${caller.label}: …`)
      results.append(row)
      try {
        const token = await caller.token()
        if (caller.who !== 'anonymous' && token === null) {
          row.textContent = `${caller.label}: needs development tokens to try`
          continue
        }
        const signed = await this.api.fileUrl(doc.id, token)
        // The signed URL itself must open too (the service checks its signature and expiry). A
        // bucket or CDN on another origin may not allow this page to read it (CORS): say so.
        const status = await fetch(signed.url).then(
          (r) => r.status,
          () => null,
        )
        row.dataset.outcome = status === null || (status >= 200 && status < 300) ? 'allowed' : 'refused'
        row.textContent =
          `${caller.label}: ` +
          `${row.dataset.outcome === 'allowed' ? '✓ may open it' : '✗ the signed URL was refused'} ` +
          `(${status === null ? 'signed URL on another origin' : `signed URL, HTTP ${status}`})`
      } catch (error) {
        row.dataset.outcome = 'refused'
        row.textContent = `${caller.label}: ✗ ${error instanceof ApiError ? `${error.status} ` : ''}${messageOf(error)}`
      }
    }
  }
}
