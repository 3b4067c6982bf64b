import { runCli } from './main.js'

// Ctrl-C once: ask the running command to stop cleanly; twice: leave now.
const controller = new AbortController()
let interrupts = 0
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (++interrupts > 1) process.exit(130)
    controller.abort(new Error(sig))
  })
}
process.exitCode = await runCli(process.argv.slice(2), { signal: controller.signal })
