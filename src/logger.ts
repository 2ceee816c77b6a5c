import { pino, type Logger as PinoLogger } from 'pino'

export type Logger = PinoLogger

/** JSON logs; credentials never reach them. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      paths: ['req.headers["x-api-key"]', 'req.headers.authorization', 'apiKey', '*.apiKey', 'tokenA', '*.tokenA'],
      censor: '[redacted]',
    },
  })
}
