import type { Logger } from './infra/logger.ts'

export interface ShutdownStep {
  /** what is done once the step has finished, for the log: "closed the database" */
  name: string
  run(): Promise<unknown> | unknown
}

/**
 * Runs the steps of a shutdown one after the other, logging each with its duration. Rejects,
 * naming the step under way, when they take longer than `timeoutMs` together: the caller then
 * exits anyway (the steps left are abandoned, not cancelled).
 */
export async function shutDownInSteps(steps: ShutdownStep[], options: { timeoutMs: number; log: Logger }): Promise<void> {
  const { timeoutMs, log } = options
  const began = performance.now()
  const elapsed = () => Math.round(performance.now() - began)
  log.info({ timeoutMs }, 'shutting down')
  let current = ''
  const all = async () => {
    for (const step of steps) {
      current = step.name
      const at = performance.now()
      await step.run()
      log.info({ step: step.name, ms: Math.round(performance.now() - at) }, `shutdown: ${step.name}`)
    }
  }
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      log.error({ step: current, ms: elapsed() }, 'shutdown deadline passed; giving up on the step under way')
      reject(new Error(`shutdown did not finish within ${timeoutMs} ms (OPENPNC_SHUTDOWN_TIMEOUT_MS), stuck at: ${current}`))
    }, timeoutMs)
    // Not unref'd: a step waiting on nothing must still end in the deadline, not in a silent exit.
  })
  try {
    await Promise.race([all(), deadline])
  } finally {
    clearTimeout(timer)
  }
  log.info({ ms: elapsed() }, 'shut down')
}
