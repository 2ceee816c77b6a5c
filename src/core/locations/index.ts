export * from './location.ts'
export * from './filters.ts'
export * from './search-document.ts'
