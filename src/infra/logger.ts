import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino'
import pretty from 'pino-pretty'

export type Logger = PinoLogger

/** `LOG_FORMAT`: `auto` (the default) is pretty in a terminal and JSON for a log collector. */
export type LogFormat = 'auto' | 'json' | 'pretty'

/** The format a logger writes: a person reads a terminal, a machine reads everything else. */
export function chooseLogFormat(format: LogFormat, stdoutIsTerminal: boolean): 'json' | 'pretty' {
  if (format === 'auto') return stdoutIsTerminal ? 'pretty' : 'json'
  return format
}

/**
 * Logs to stdout (or `destination`); credentials never reach them, in either format. Both formats
 * write synchronously: with pino's default asynchronous stdout, the exit's synchronous flush could
 * overtake a write still in flight, and a shutdown step's line then came after "shut down".
 */
export function createLogger(level: string, format: LogFormat = 'json', destination?: DestinationStream): Logger {
  const options = {
    level,
    redact: {
      paths: ['req.headers["x-api-key"]', 'req.headers.authorization', 'apiKey', '*.apiKey', 'tokenA', '*.tokenA'],
      censor: '[redacted]',
    },
  }
  if (chooseLogFormat(format, process.stdout.isTTY === true) === 'json') {
    return pino(options, destination ?? pino.destination({ dest: 1, sync: true }))
  }
  return pino(
    options,
    pretty({
      sync: true,
      colorize: destination ? false : pretty.isColorSupported,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      ...(destination && { destination }),
    }),
  )
}
