import { Writable } from 'node:stream'

/** A stream that keeps what is written to it (stdout/stderr of an in-process `runCli`). */
export function capture(): { stream: Writable; text: () => string } {
  let out = ''
  return {
    stream: new Writable({
      write(chunk, _enc, done) {
        out += String(chunk)
        done()
      },
    }),
    text: () => out,
  }
}
