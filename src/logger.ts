import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino'

export type Logger = PinoLogger

/** JSON logs; credentials never reach them. `destination`: stdout unless given (tests read a stream). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    redact: {
      paths: ['req.headers["x-api-key"]', 'req.headers.authorization', 'apiKey', '*.apiKey', 'tokenA', '*.tokenA'],
      censor: '[redacted]',
    },
  }
  return destination ? pino(options, destination) : pino(options)
}
