/** A JSON object as parsed: not null, not an array. The one guard every wire reader uses. */
export type JsonObject = Record<string, unknown>

export const isJsonObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v)
