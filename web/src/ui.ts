import { ApiError, type Api, type UploadMode } from './api.js'
import type { FileView, UploadTarget } from './types.js'

/** `el('p', { class: 'x' }, 'text', child)`: a tiny DOM builder (attributes, then children). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number | boolean | undefined> = {},
  ...children: Array<Node | string | null | undefined>
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue
    node.setAttribute(name, value === true ? '' : String(value))
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child)
  return node
}

export function $<T extends HTMLElement = HTMLElement>(selector: string): T {
  const node = document.querySelector<T>(selector)
  if (!node) throw new Error(`Missing element ${selector}`)
  return node
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`
}

export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message
  return error instanceof Error ? error.message : String(error)
}

/**
 * Uploads files one after the other, each with its own row in `queue`: name, size, a progress
 * bar while the bytes go up, then "making variants…" and "ready", or the API's message when it
 * refuses the file. Calls `onStored` with each file the API accepted (status `processing`); the
 * promise it may return (the file once settled) updates the row.
 */
export async function uploadAll(
  api: Api,
  queue: HTMLElement,
  files: Iterable<File>,
  target: UploadTarget,
  mode: UploadMode,
  onStored: (view: FileView) => Promise<FileView> | void,
): Promise<void> {
  for (const file of files) {
    const bar = el('progress', { max: file.size || 1, value: 0 })
    const state = el('span', { class: 'state' }, 'waiting')
    const row = el(
      'li',
      { class: 'upload', 'data-name': file.name, 'data-state': 'waiting' },
      el('span', { class: 'name' }, file.name),
      el('span', { class: 'size' }, formatBytes(file.size)),
      bar,
      state,
    )
    queue.append(row)
    const setState = (name: string, text: string) => {
      row.dataset.state = name
      state.textContent = text
    }
    setState('uploading', 'uploading')
    try {
      const view = await api.upload(target, file, mode, (loaded, total) => {
        bar.max = total
        bar.value = loaded
        state.textContent = `${Math.round((loaded / total) * 100)} %`
      })
      bar.value = bar.max
      setState('stored', view.status === 'ready' ? 'ready' : 'making variants…')
      row.dataset.fileId = view.id
      void onStored(view)?.then(
        (settled) => {
          if (settled.status === 'ready') setState('ready', 'ready')
          else if (settled.status === 'failed') fail(settled.errorReason ?? 'Processing failed')
        },
        (error: unknown) => fail(messageOf(error)),
      )
    } catch (error) {
      fail(messageOf(error))
    }
    function fail(message: string) {
      setState('error', 'refused')
      row.append(el('span', { class: 'error', role: 'alert' }, message))
    }
  }
}
