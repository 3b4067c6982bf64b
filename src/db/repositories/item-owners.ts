import type { Selectable } from 'kysely'
import type { ItemOwnerRecord } from '../../domain/index.js'
import type { Db } from '../connection.js'
import { lockRows } from '../dialect.js'
import type { ItemOwnersTable } from '../schema.js'
import { now } from '../time.js'

export type { ItemOwnerRecord } from '../../domain/index.js'

function itemOwnerRecordOf(row: Selectable<ItemOwnersTable>): ItemOwnerRecord {
  return { itemId: row.item_id, ownerId: row.owner_id, createdAt: row.created_at, updatedAt: row.updated_at }
}

/**
 * The default ownership registry: who first attached photos to an item, or whom an admin
 * registered. Inside a transaction, `registerIfAbsent` and `lock` also lock the item's row until
 * the transaction ends (PostgreSQL), which is what serialises "count the item's photos, then
 * insert one" between concurrent uploads to the same item.
 */
export const itemOwners = {
  async get(db: Db, itemId: string): Promise<ItemOwnerRecord | null> {
    const row = await db.selectFrom('item_owners').selectAll().where('item_id', '=', itemId).executeTakeFirst()
    return row ? itemOwnerRecordOf(row) : null
  },

  /** The row, locked until the transaction ends (PostgreSQL); null when the item is unknown. */
  async lock(db: Db, itemId: string): Promise<ItemOwnerRecord | null> {
    const query = db.selectFrom('item_owners').selectAll().where('item_id', '=', itemId)
    const row = await lockRows(db, query).executeTakeFirst()
    return row ? itemOwnerRecordOf(row) : null
  },

  /**
   * Records `ownerId` as the item's owner unless it has one, and resolves the owner in force
   * (`created` tells which happened). Concurrent first uploads agree on one owner: the losing
   * insert does nothing and reads the winner's row.
   */
  async registerIfAbsent(db: Db, itemId: string, ownerId: string): Promise<{ ownerId: string; created: boolean }> {
    const at = now()
    const inserted = await db
      .insertInto('item_owners')
      .values({ item_id: itemId, owner_id: ownerId, created_at: at, updated_at: at })
      .onConflict((oc) => oc.column('item_id').doNothing())
      .returning('owner_id')
      .executeTakeFirst()
    if (inserted) return { ownerId: inserted.owner_id, created: true }
    const row = await itemOwners.lock(db, itemId)
    // Only a concurrent admin delete could empty it between the two statements; insert again.
    if (!row) return itemOwners.registerIfAbsent(db, itemId, ownerId)
    return { ownerId: row.ownerId, created: false }
  },

  /** Sets the owner (admin register or transfer); resolves the previous owner, or null. */
  async transfer(db: Db, itemId: string, ownerId: string): Promise<string | null> {
    const at = now()
    const previous = await itemOwners.lock(db, itemId)
    if (previous) {
      await db
        .updateTable('item_owners')
        .set({ owner_id: ownerId, updated_at: at })
        .where('item_id', '=', itemId)
        .execute()
      return previous.ownerId
    }
    const inserted = await db
      .insertInto('item_owners')
      .values({ item_id: itemId, owner_id: ownerId, created_at: at, updated_at: at })
      .onConflict((oc) => oc.column('item_id').doNothing())
      .returning('owner_id')
      .executeTakeFirst()
    // Lost a race with a concurrent first registration: transfer from it.
    return inserted ? null : itemOwners.transfer(db, itemId, ownerId)
  },
}
