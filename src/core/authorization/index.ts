export * from './decision.ts'
export * from './presented.ts'
export * from './circuit-breaker.ts'
export * from './partner-decision.ts'
