import { duration } from '../../config/env.js'
import { LocalexError } from '../../errors/index.js'
import { signToken } from '../../http/auth.js'
import { assertSafeId } from '../../storage/keys.js'
import type { Command } from '../command.js'
import { loadCommandConfig } from '../config.js'

export const token: Command = {
  name: 'token',
  summary: 'Print a development bearer token for a user (alone on stdout).',
  usage: '--user <id> [--admin] [--ttl 1h]',
  description:
    'Signed with the configured HS secret (JWT_SECRET; the embedded default generates one into\n' +
    '$DATA_DIR/secrets.json, which `serve` reads too). Not available when the service verifies\n' +
    'tokens with JWT_PUBLIC_KEY or JWKS_URL only: your identity provider issues those.\n\n' +
    'Example: curl -H "Authorization: Bearer $(localex-storage token --user alice)" ...',
  options: {
    user: {
      type: 'string',
      short: 'u',
      valueName: 'id',
      description: 'The `sub` of the token (1-128 letters, digits, `_` or `-`).',
    },
    admin: { type: 'boolean', description: 'Add `role: "admin"`.' },
    ttl: {
      type: 'string',
      valueName: 'duration',
      default: '1h',
      description: 'Lifetime: 1500 (ms), 30s, 15m, 1h, 7d.',
    },
  },
  async run({ env, values, stdout }) {
    const user = values.user
    if (typeof user !== 'string' || user === '') throw new LocalexError('VALIDATION_FAILED', '--user is required')
    assertSafeId(user, '--user')
    const ttl = duration.safeParse(typeof values.ttl === 'string' ? values.ttl : '1h')
    if (!ttl.success || ttl.data < 1000)
      throw new LocalexError('VALIDATION_FAILED', '--ttl must be a duration of at least 1s, such as 30m, 1h or 7d')
    const config = loadCommandConfig(env)
    const jwt = await signToken(config, {
      sub: user,
      admin: values.admin === true,
      ttlSeconds: Math.floor(ttl.data / 1000),
    })
    stdout.write(`${jwt}\n`)
    return 0
  },
}
