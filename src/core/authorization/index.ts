export * from './decision.ts'
export * from './presented.ts'
