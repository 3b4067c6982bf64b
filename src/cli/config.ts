import { ensureGeneratedSecrets, loadConfig, type Config, type Env } from '../config/index.js'

/**
 * The config a command runs with. The library's `loadConfig` never writes; the CLI, which is how
 * the embedded default is started, first generates the secrets nobody configured (once, into
 * `$DATA_DIR/secrets.json`), so that `serve`, `worker`, `token` and the operations commands on one
 * DATA_DIR agree with no configuration at all.
 */
export function loadCommandConfig(env: Env): Readonly<Config> {
  ensureGeneratedSecrets(env)
  return loadConfig(env)
}
