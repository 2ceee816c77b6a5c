export * from './emaid.ts'
export * from './pcid.ts'
export * from './rfid.ts'
export { emaidCheckCharacter } from './check-digit.ts'
