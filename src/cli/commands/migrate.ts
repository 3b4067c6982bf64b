import { createDatabase, migrateToLatest, migrationStatus } from '../../db/index.js'
import { JSON_OPTION, type Command } from '../command.js'
import { loadCommandConfig } from '../config.js'
import { writeJson } from '../ops.js'

export const migrate: Command = {
  name: 'migrate',
  summary: 'Run pending database migrations and print their status (--status: only print).',
  description: [
    'Applies every pending migration to DATABASE_URL (or the SQLite file), each in its own',
    'transaction; concurrent runs wait for each other. Never rolls back or drops anything. The',
    'service and the worker also migrate on start unless MIGRATE_ON_START=false.',
  ].join('\n'),
  options: {
    status: { type: 'boolean', description: 'Print which migrations ran and which are pending; apply nothing.' },
    json: JSON_OPTION,
  },
  async run({ env, values, stdout }) {
    const config = loadCommandConfig(env)
    const db = await createDatabase(config)
    try {
      const applied = values.status ? [] : await migrateToLatest(db)
      const status = await migrationStatus(db)
      const pending = status.filter((m) => m.executedAt === null).map((m) => m.name)
      if (values.json) writeJson(stdout, { applied, migrations: status, pending })
      else {
        for (const m of status)
          stdout.write(`  ${m.executedAt ? `applied ${m.executedAt}` : 'pending'.padEnd(32)}  ${m.name}\n`)
        stdout.write(
          values.status
            ? `${pending.length} pending.\n`
            : `Applied ${applied.length} migration${applied.length === 1 ? '' : 's'}; ${pending.length} pending.\n`,
        )
      }
      return 0
    } finally {
      await db.destroy()
    }
  },
}
