/**
 * Preloaded into a bench server (`--import ./bench/profiler.ts`) when a CPU profile is asked for:
 * it samples the server's own CPU over exactly the measured run (not start-up, warm-up or what
 * follows), which `node --cpu-prof` cannot. The parent drives it over IPC:
 *   { type: 'profile-start' }              -> { type: 'profile-started' }
 *   { type: 'profile-stop', path: string } -> { type: 'profile-written', path }  (a .cpuprofile)
 * Other messages are bench/server.ts's business.
 */
import { writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'

export type ProfilerRequest = { type: 'profile-start' } | { type: 'profile-stop'; path: string }
export type ProfilerReply = { type: 'profile-started' } | { type: 'profile-written'; path: string }

const session = new Session()
session.connect()

process.on('message', (message: ProfilerRequest) => {
  const reply = (answer: ProfilerReply) => process.send?.(answer)
  if (message.type === 'profile-start') {
    void (async () => {
      await session.post('Profiler.enable')
      // 200 µs: fine enough for requests that take a few hundred microseconds of CPU.
      await session.post('Profiler.setSamplingInterval', { interval: 200 })
      await session.post('Profiler.start')
      reply({ type: 'profile-started' })
    })()
  } else if (message.type === 'profile-stop') {
    void (async () => {
      const { profile } = await session.post('Profiler.stop')
      await writeFile(message.path, JSON.stringify(profile))
      reply({ type: 'profile-written', path: message.path })
    })()
  }
})
