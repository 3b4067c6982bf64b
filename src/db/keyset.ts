import { sql, type Expression, type ExpressionBuilder, type SelectQueryBuilder, type SqlBool } from 'kysely'

export interface KeysetOptions<Row> {
  /**
   * The sort key, most significant first (e.g. `['updated_at', 'id']`); the last column must be
   * unique (the id), or rows sharing a key across a batch boundary would be skipped.
   */
  keys: readonly (keyof Row & string)[]
  /** Rows per batch (default 200). */
  batchSize?: number | undefined
}

/**
 * Reads every row of `query` in batches by keyset: each batch is the next rows after the last one
 * seen, in the order of `keys`, so a walk never re-reads an offset and a row the caller changes or
 * leaves in place is not read again. Pull-based: the next batch is read only when the consumer
 * asks, and no connection or transaction is held between batches, so the consumer may write
 * meanwhile (what it inserts during the walk may or may not be seen). `query` has the filters
 * only: this adds the order, the limit and the cursor.
 */
// The builder's table types vary per caller; only its output row matters here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function* keysetPages<DB, TB extends keyof DB, Row extends Record<string, any>>(
  query: SelectQueryBuilder<DB, TB, Row>,
  options: KeysetOptions<Row>,
): AsyncGenerator<Row[]> {
  const { keys } = options
  const batchSize = options.batchSize ?? 200
  let ordered = query
  for (const key of keys) ordered = ordered.orderBy(sql.ref(key))
  let after: unknown[] | null = null
  for (;;) {
    const cursor: unknown[] | null = after
    const page = cursor === null ? ordered : ordered.where((eb) => pastCursor(eb, keys, cursor))
    const rows: Row[] = await page.limit(batchSize).execute()
    if (rows.length) yield rows
    const last: Row | undefined = rows.at(-1)
    if (!last || rows.length < batchSize) return
    after = keys.map((key) => last[key])
  }
}

/** `(k1, k2, …) > (v1, v2, …)` spelled out, which both dialects index: k1 > v1 OR (k1 = v1 AND k2 > v2) … */
function pastCursor<DB, TB extends keyof DB>(
  eb: ExpressionBuilder<DB, TB>,
  keys: readonly string[],
  values: readonly unknown[],
): Expression<SqlBool> {
  const ref = (i: number) => sql.ref(keys[i] as string)
  return eb.or(
    keys.map((_, i) =>
      eb.and([...keys.slice(0, i).map((__, j) => eb(ref(j), '=', values[j])), eb(ref(i), '>', values[i])]),
    ),
  )
}
