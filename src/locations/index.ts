export * from './location.ts'
export * from './filters.ts'
