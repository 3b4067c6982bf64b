/**
 * The example page: development sign-in, item photos (upload with progress, placeholder, then
 * variants; reorder, delete), the profile photo and verification documents. Each part of the API
 * is used from one module: api.ts (requests, uploads with progress), picture.ts (responsive
 * markup), photos.ts, profile.ts, documents.ts (the sections), ui.ts (DOM helpers).
 */
import { Api, ApiError, type UploadMode } from './api.js'
import { DocumentList } from './documents.js'
import { PhotoGallery } from './photos.js'
import { ProfilePhoto } from './profile.js'
import type { DocumentType } from './types.js'
import { $, messageOf, uploadAll } from './ui.js'

const api = new Api()
const SESSION_KEY = 'localex-storage:session'

interface Session {
  token: string
  userId: string
  admin: boolean
}

const whoami = $('#whoami')
const signInError = $('#sign-in-error')
const photoError = $('#photo-error')
const itemInput = $<HTMLInputElement>('#item-id')
const modeSelect = $<HTMLSelectElement>('#upload-mode')
const otherUserInput = $<HTMLInputElement>('#other-user')

const gallery = new PhotoGallery(
  api,
  $<HTMLOListElement>('#gallery'),
  () => itemInput.value.trim(),
  (message) => {
    photoError.textContent = message
  },
)
const profile = new ProfilePhoto(api, $('#profile-current'))
const documents = new DocumentList(
  api,
  $<HTMLUListElement>('#document-list'),
  tokenFor,
  () => otherUserInput.value.trim() || 'mallory',
)

/** Tokens minted for the access demo, by user (development sign-in only). */
const demoTokens = new Map<string, string>()
let devTokensAvailable = true

async function tokenFor(userId: string, admin: boolean): Promise<string | null> {
  if (!devTokensAvailable) return null
  const key = `${userId}:${admin}`
  const known = demoTokens.get(key)
  if (known) return known
  try {
    const { token } = await api.devToken(userId, admin)
    demoTokens.set(key, token)
    return token
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) devTokensAvailable = false
    return null
  }
}

function startSession(session: Session): void {
  api.token = session.token
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session))
  whoami.textContent = `Signed in as ${session.userId}${session.admin ? ' (admin)' : ''}`
  document.body.dataset.signedIn = 'true'
  void refresh()
}

async function refresh(): Promise<void> {
  photoError.textContent = ''
  await Promise.all([
    gallery.load().catch((error: unknown) => (photoError.textContent = messageOf(error))),
    api.token
      ? profile.load().catch((error: unknown) => ($('#profile-error').textContent = messageOf(error)))
      : undefined,
    api.token
      ? documents.load().catch((error: unknown) => ($('#document-error').textContent = messageOf(error)))
      : undefined,
  ])
}

/** The payload of a JWT (not verified: the API does that), to show who a pasted token is for. */
function claimsOf(token: string): { sub?: string; role?: string } {
  try {
    const payload = token.split('.')[1] ?? ''
    return JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { sub?: string; role?: string }
  } catch {
    return {}
  }
}

$<HTMLFormElement>('#sign-in').addEventListener('submit', (event) => {
  event.preventDefault()
  signInError.textContent = ''
  const userId = $<HTMLInputElement>('#user-id').value.trim()
  const admin = $<HTMLInputElement>('#admin').checked
  api.devToken(userId, admin).then(
    (minted) => startSession({ token: minted.token, userId: minted.userId, admin: minted.admin }),
    (error: unknown) => {
      signInError.textContent =
        error instanceof ApiError && error.status === 404
          ? 'Development sign-in is off on this service: paste a token below.'
          : messageOf(error)
      if (error instanceof ApiError && error.status === 404) $<HTMLDetailsElement>('#paste-token').open = true
    },
  )
})

$<HTMLFormElement>('#token-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const token = $<HTMLTextAreaElement>('#token').value.trim()
  const claims = claimsOf(token)
  startSession({ token, userId: claims.sub ?? '?', admin: claims.role === 'admin' })
})

itemInput.addEventListener('change', () => void refresh())

// Photos: the file picker and drag-and-drop onto the drop zone.
const dropZone = $('#drop-zone')
const photoInput = $<HTMLInputElement>('#photo-input')
function uploadPhotos(files: FileList | null): void {
  if (!files?.length) return
  photoError.textContent = ''
  const itemId = itemInput.value.trim()
  void uploadAll(
    api,
    $('#upload-queue'),
    [...files],
    { purpose: 'item_photo', itemId },
    modeSelect.value as UploadMode,
    (view) => gallery.add(view),
  )
}
photoInput.addEventListener('change', () => {
  uploadPhotos(photoInput.files)
  photoInput.value = ''
})
dropZone.addEventListener('dragover', (event) => {
  event.preventDefault()
  dropZone.classList.add('dragging')
})
dropZone.addEventListener('dragleave', () => dropZone.classList.remove('dragging'))
dropZone.addEventListener('drop', (event) => {
  event.preventDefault()
  dropZone.classList.remove('dragging')
  uploadPhotos(event.dataTransfer?.files ?? null)
})

const profileInput = $<HTMLInputElement>('#profile-input')
profileInput.addEventListener('change', () => {
  const files = profileInput.files
  if (!files?.length) return
  void uploadAll(
    api,
    $('#profile-queue'),
    [...files].slice(0, 1),
    { purpose: 'profile_photo' },
    modeSelect.value as UploadMode,
    (view) => profile.set(view),
  )
  profileInput.value = ''
})

const documentInput = $<HTMLInputElement>('#document-input')
documentInput.addEventListener('change', () => {
  const files = documentInput.files
  if (!files?.length) return
  const documentType = $<HTMLSelectElement>('#document-type').value as DocumentType
  void uploadAll(
    api,
    $('#document-queue'),
    [...files].slice(0, 1),
    { purpose: 'document', documentType },
    modeSelect.value as UploadMode,
    (view) => documents.add(view),
  )
  documentInput.value = ''
})

// Back from a reload: same session (sessionStorage: this tab only).
const saved = sessionStorage.getItem(SESSION_KEY)
if (saved) startSession(JSON.parse(saved) as Session)
else void refresh()
document.body.dataset.ready = 'true'
