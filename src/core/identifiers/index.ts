export * from './emaid.ts'
export * from './pcid.ts'
export { emaidCheckCharacter } from './check-digit.ts'
