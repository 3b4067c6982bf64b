import type { DevToken, DirectUpload, FileView, Problem, SignedUrl, UploadTarget } from './types.js'

/**
 * A small client of the localex-storage API. Every error becomes an `ApiError` whose message is
 * the API's own (`detail` of the problem document, or the store's `<Message>` for S3 errors), so
 * the page can show it next to the file as it is.
 */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

/** Upload progress: bytes sent so far out of the request's total. */
export type ProgressListener = (loaded: number, total: number) => void

/** `auto`: direct to the store when the service offers it, multipart otherwise. */
export type UploadMode = 'auto' | 'direct' | 'multipart'

export class Api {
  /** The bearer token sent with every request (null: anonymous). */
  token: string | null = null

  constructor(readonly baseUrl = '') {}

  /** JSON request to the API; resolves with the parsed body (undefined for 204). */
  async request<T>(method: string, path: string, body?: unknown, token = this.token): Promise<T> {
    const headers: Record<string, string> = {}
    if (token) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const response = await fetch(this.baseUrl + path, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
    const text = await response.text()
    if (!response.ok) throw errorOf(response.status, text, response.headers.get('content-type'))
    return (text ? JSON.parse(text) : undefined) as T
  }

  /** Development sign-in (POST /v1/dev/token): only when the service allows it. */
  devToken(userId: string, admin: boolean): Promise<DevToken> {
    return this.request<DevToken>('POST', '/v1/dev/token', { userId, admin })
  }

  getFile(id: string, token = this.token): Promise<FileView> {
    return this.request<FileView>('GET', `/v1/files/${encodeURIComponent(id)}`, undefined, token)
  }

  fileUrl(id: string, token = this.token): Promise<SignedUrl> {
    return this.request<SignedUrl>('GET', `/v1/files/${encodeURIComponent(id)}/url`, undefined, token)
  }

  /**
   * Polls GET /v1/files/{id} until the file is no longer being processed, calling `onUpdate` with
   * every answer (so the page can show what is already there). Resolves with the last view.
   */
  async waitForFile(
    id: string,
    onUpdate: (view: FileView) => void,
    options: { intervalMs?: number; timeoutMs?: number } = {},
  ): Promise<FileView> {
    const deadline = Date.now() + (options.timeoutMs ?? 120_000)
    for (;;) {
      const view = await this.getFile(id)
      onUpdate(view)
      if ((view.status !== 'processing' && view.status !== 'uploading') || Date.now() > deadline) return view
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 500))
    }
  }

  /**
   * Uploads one file for `target`. Direct mode asks POST /v1/uploads for a presigned POST, sends
   * the bytes straight to the store (the service itself on the disk store, the bucket on S3),
   * then POST /v1/uploads/{id}/complete; multipart mode sends the file to the purpose's route.
   * `auto` takes the direct path and falls back to multipart when the service does not offer it
   * or the store cannot be reached from this page.
   * Resolves with the file as stored: `processing` (placeholder known, variants to come).
   */
  async upload(target: UploadTarget, file: File, mode: UploadMode, onProgress: ProgressListener): Promise<FileView> {
    if (mode !== 'multipart') {
      let upload: DirectUpload | undefined
      try {
        upload = await this.request<DirectUpload>('POST', '/v1/uploads', {
          purpose: target.purpose,
          ...(target.purpose === 'item_photo' ? { itemId: target.itemId } : {}),
          ...(target.purpose === 'document' ? { documentType: target.documentType } : {}),
          fileName: file.name,
        })
      } catch (error) {
        const unavailable = error instanceof ApiError && (error.status === 404 || error.status === 501)
        if (mode === 'direct' || !unavailable) throw error
      }
      if (upload) {
        const form = new FormData()
        // The policy's fields first, exactly as given; the file last.
        for (const [name, value] of Object.entries(upload.fields)) form.append(name, value)
        form.append('file', file, file.name)
        try {
          await sendWithProgress('POST', upload.url, form, {}, onProgress)
          return await this.request<FileView>('POST', `/v1/uploads/${encodeURIComponent(upload.id)}/complete`)
        } catch (error) {
          // No readable answer from the store: typically a bucket (or a PUBLIC_BASE_URL on another
          // origin than this page) that does not allow this origin by CORS. `auto` sends the file
          // through the API instead; the unfinished direct upload expires on its own.
          if (mode === 'direct' || !(error instanceof ApiError && error.code === 'NETWORK_ERROR')) throw error
          onProgress(0, file.size)
        }
      }
    }
    const form = new FormData()
    if (target.purpose === 'document') form.append('type', target.documentType) // before the file
    form.append('file', file, file.name)
    const [method, path] =
      target.purpose === 'item_photo'
        ? ['POST', `/v1/items/${encodeURIComponent(target.itemId)}/photos`]
        : target.purpose === 'profile_photo'
          ? ['PUT', '/v1/users/me/profile-photo']
          : ['POST', '/v1/verification-documents']
    const headers: Record<string, string> = this.token ? { authorization: `Bearer ${this.token}` } : {}
    const text = await sendWithProgress(method, this.baseUrl + path, form, headers, onProgress)
    return JSON.parse(text) as FileView
  }
}

/**
 * fetch() cannot report upload progress yet (streaming request bodies are not widely supported);
 * XMLHttpRequest's `upload.onprogress` can. Resolves with the response text of a 2xx answer.
 */
function sendWithProgress(
  method: string,
  url: string,
  body: FormData,
  headers: Record<string, string>,
  onProgress: ProgressListener,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open(method, url)
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value)
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total)
    }
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.responseText)
      else reject(errorOf(xhr.status, xhr.responseText, xhr.getResponseHeader('content-type')))
    }
    // Status 0: no answer could be read (connection refused or cut, or a cross-origin store
    // without CORS for this page).
    xhr.onerror = () =>
      reject(new ApiError('The upload failed: no answer from the server (network error or CORS)', 0, 'NETWORK_ERROR'))
    xhr.send(body)
  })
}

/** The API's message from an error answer: problem+json `detail`/`title`, or S3's XML `<Message>`. */
export function errorOf(status: number, text: string, contentType: string | null): ApiError {
  if (contentType?.includes('json')) {
    try {
      const problem = JSON.parse(text) as Partial<Problem>
      return new ApiError(problem.detail ?? problem.title ?? `HTTP ${status}`, status, problem.code ?? 'UNKNOWN')
    } catch {
      // Not JSON after all: fall through.
    }
  }
  const s3Message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1]
  const s3Code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1]
  if (s3Message) return new ApiError(s3Message, status, s3Code ?? 'STORE_ERROR')
  return new ApiError(`HTTP ${status}`, status, 'UNKNOWN')
}
