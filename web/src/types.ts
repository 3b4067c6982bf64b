/**
 * The API's JSON shapes as this client uses them (the server's schemas are in
 * src/http/schemas.ts; GET /docs/json has the whole OpenAPI document).
 */

export type Purpose = 'item_photo' | 'profile_photo' | 'document'
export type FileStatus = 'uploading' | 'processing' | 'ready' | 'failed' | 'deleted'
export type DocumentType = 'id_card' | 'passport' | 'drivers_license' | 'proof_of_address'

export interface FileVariant {
  variant: string
  format: string
  contentType: string
  width?: number
  height?: number
  /** Bytes. */
  size: number
  /** Absent when the file needs a signed URL (GET /v1/files/{id}/url). */
  url?: string
}

export interface FileView {
  id: string
  ownerId: string
  purpose: Purpose
  documentType: DocumentType | null
  accessLevel: 'public' | 'authenticated' | 'private'
  status: FileStatus
  originalName: string
  contentType: string
  bytes: number
  width: number | null
  height: number | null
  /** ThumbHash, base64. */
  placeholder: string | null
  dominantColor: string | null
  position: number | null
  errorReason: string | null
  url: string | null
  variants: FileVariant[]
}

export interface DirectUpload {
  id: string
  url: string
  fields: Record<string, string>
  maxBytes: number
  expiresAt: string
}

export interface SignedUrl {
  url: string
  expiresAt?: string
  variant: string
  format: string
}

export interface DevToken {
  token: string
  userId: string
  admin: boolean
  expiresAt: string
}

/** Every API error body (RFC 9457 problem details). */
export interface Problem {
  title: string
  status: number
  code: string
  detail?: string
}

/** What an upload is for: decides the route (multipart) or the body of POST /v1/uploads (direct). */
export type UploadTarget =
  | { purpose: 'item_photo'; itemId: string }
  | { purpose: 'profile_photo' }
  | { purpose: 'document'; documentType: DocumentType }
