import { describe, expect, it } from 'vitest'
import { ownerOfKey } from '../../src/ops/layout.js'
import { keys } from '../../src/storage/keys.js'

describe('ownerOfKey', () => {
  it('maps every key of the layout to its row', () => {
    expect(ownerOfKey(keys.itemPhoto('item-1', 'f1', 'thumbnail.webp'))).toEqual({
      kind: 'file',
      fileId: 'f1',
      folder: 'items/item-1/photos/f1/',
    })
    expect(ownerOfKey(keys.profilePhoto('u1', 'f2', 'original.jpg'))).toEqual({
      kind: 'file',
      fileId: 'f2',
      folder: 'profiles/u1/photo/f2/',
    })
    expect(ownerOfKey(keys.verification('u1', 'passport', 'f3', 'scan.pdf'))).toEqual({
      kind: 'file',
      fileId: 'f3',
      folder: 'verification/u1/passport/f3/',
    })
    expect(ownerOfKey(keys.tempUpload('up1', 'photo.jpg'))).toEqual({
      kind: 'upload',
      uploadId: 'up1',
      folder: 'temp/uploads/up1/',
    })
  })

  it('calls anything else foreign (never deleted by the sweep), including folders without a file name', () => {
    for (const key of [
      'backup.tar',
      'items/item-1/photos/f1',
      'items/item-1/other/f1/x.jpg',
      'profiles/u1/photo/',
      'temp/uploads/up1',
      'temp/other/x',
      'verification/u1/passport',
    ]) {
      expect(ownerOfKey(key), key).toEqual({ kind: 'foreign' })
    }
  })
})
