/**
 * Which database row an object key belongs to, read from the key layout (storage/keys.ts):
 * `items/{itemId}/photos/{fileId}/…`, `profiles/{userId}/photo/{fileId}/…`,
 * `verification/{userId}/{type}/{fileId}/…` (a `files` row) and `temp/uploads/{uploadId}/…`
 * (an `uploads` row). Anything else is `foreign`: the sweep reports it and never deletes it.
 */
export type KeyOwner =
  | { kind: 'file'; fileId: string; folder: string }
  | { kind: 'upload'; uploadId: string; folder: string }
  | { kind: 'foreign' }

export function ownerOfKey(key: string): KeyOwner {
  const parts = key.split('/')
  const id = (i: number, depth: number): KeyOwner | null => {
    const fileId = parts[i]
    if (!fileId || parts.length <= depth) return null
    return { kind: 'file', fileId, folder: `${parts.slice(0, depth).join('/')}/` }
  }
  if (parts[0] === 'items' && parts[2] === 'photos') return id(3, 4) ?? { kind: 'foreign' }
  if (parts[0] === 'profiles' && parts[2] === 'photo') return id(3, 4) ?? { kind: 'foreign' }
  if (parts[0] === 'verification') return id(3, 4) ?? { kind: 'foreign' }
  if (parts[0] === 'temp' && parts[1] === 'uploads' && parts[2] && parts.length > 3) {
    return { kind: 'upload', uploadId: parts[2], folder: `temp/uploads/${parts[2]}/` }
  }
  return { kind: 'foreign' }
}
