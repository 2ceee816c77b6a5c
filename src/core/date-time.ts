/**
 * RFC 3339 date-times that are real instants: both PostgreSQL and `Date` read them, and as the
 * same moment. A leap second (`23:59:60`) or year 0000 passes a syntactic check but not
 * `new Date()` or PostgreSQL, so they would reach the database as an invalid value.
 */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))?$/

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

const isLeapYear = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0

/**
 * True when `text` is an RFC 3339 date-time of a real instant: year 0001-9999, a day that exists
 * in its month, hours 00-23, seconds 00-59. `offsetRequired: false` accepts a missing offset
 * (OCPI: "the absence of the timezone designator implies a UTC timestamp").
 */
export function isRealInstant(text: string, options: { offsetRequired?: boolean } = {}): boolean {
  const match = DATE_TIME.exec(text)
  if (!match) return false
  const [, y, mo, d, h, mi, s, , offset, oh, om] = match
  const year = Number(y)
  const month = Number(mo)
  const day = Number(d)
  if (year < 1 || month < 1 || month > 12 || day < 1) return false
  if (day > DAYS_IN_MONTH[month - 1]! || (month === 2 && day === 29 && !isLeapYear(year))) return false
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return false
  if (offset === undefined && options.offsetRequired !== false) return false
  if (oh !== undefined && (Number(oh) > 23 || Number(om) > 59)) return false
  return !Number.isNaN(Date.parse(offset === undefined ? `${text}Z` : text))
}
