import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import { matchLocation, searchDocumentJson, searchDocumentOf, type Location } from '../src/core/locations/index.ts'
import { GeosearchAnswer, GeosearchAnswerWriter } from '../src/protocols/drive-api/geosearch-answer.ts'
import { generateLocations } from '../src/sim/locations.ts'
import { locationFromOcpi } from '../src/protocols/ocpi/locations-mapping.ts'
import { SearchHit } from '../src/services/locations/geosearch.ts'
import { neutralMcsEvse } from './samples.ts'

const ajv = new Ajv({ strict: false, allErrors: true })
addFormats.default(ajv)
const valid = ajv.compile(GeosearchAnswer)

const hitOf = (location: Location, distance: number) =>
  new SearchHit(Buffer.from(searchDocumentJson(searchDocumentOf(location)), 'latin1'), distance)

/** Simulated OCPI locations with shop hours among them, and one from Hubject without a time zone. */
const network = generateLocations({ count: 60, seed: 7, version: '2.3.0' }).map((l) => locationFromOcpi(l))
const hubject: Location = {
  source: { protocol: 'oicp', operatorId: 'DE*HUB' },
  id: 'POOL-7',
  name: null,
  address: { street: 'Raiffeisenstraße 2', city: 'Kassel', postalCode: null, country: 'DEU' },
  coordinates: { latitude: 51.31667, longitude: 9.5 },
  timeZone: null,
  openingHours: { twentyfourseven: false, regularHours: [{ weekday: 7, periodBegin: '09:00', periodEnd: '18:00' }] },
  operator: { id: 'DE*HUB', name: null },
  published: true,
  evses: [neutralMcsEvse('E1', null, 'UNKNOWN')],
  lastUpdated: '2026-02-01T10:00:00.000Z',
}
const searchable = [...network.filter((l) => searchDocumentOf(l).evses.length > 0), hubject]

describe('geosearch answers as the writer writes them', () => {
  const writer = new GeosearchAnswerWriter()

  test('a page of documents from any protocol, with a cursor or without, is valid against the documented schema', () => {
    const hits = searchable.map((location, i) => hitOf(location, i * 123.45))
    for (const page of [{ hits }, { hits, cursor: 'MTIzNC41fGFiY3w' }, { hits: [] }, { hits: hits.slice(-1) }]) {
      const answer = JSON.parse(writer.write(page).toString('utf8'))
      assert.ok(valid(answer), ajv.errorsText(valid.errors))
      assert.equal(answer.locations.length, page.hits.length)
    }
  })

  test('each location is its document with the distance added, rounded to decimetres', () => {
    const answer = JSON.parse(writer.write({ hits: [hitOf(hubject, 1203.4567)] }).toString('utf8'))
    assert.deepEqual(answer, { locations: [{ ...searchDocumentOf(hubject), distance: 1203.5 }] })
  })

  test('documents trimmed by filters are valid too', () => {
    const hits = searchable
      .map((location) => matchLocation(searchDocumentOf(location), { powerType: 'DC' }))
      .filter((document) => document !== null)
      .map((document, i) => new SearchHit(Buffer.from(searchDocumentJson(document), 'latin1'), i, document))
    assert.ok(hits.length > 0)
    const answer = JSON.parse(writer.write({ hits }).toString('utf8'))
    assert.ok(valid(answer), ajv.errorsText(valid.errors))
  })

  test('a buffer reused for a smaller answer leaves nothing of the larger one behind', () => {
    const large = writer.write({ hits: searchable.map((l) => hitOf(l, 1)) })
    const small = writer.write({ hits: [hitOf(hubject, 2)] })
    assert.ok(small.length < large.length)
    assert.ok(valid(JSON.parse(small.toString('utf8'))), ajv.errorsText(valid.errors))
  })
})

describe('the documented schema checks what it documents', () => {
  const good = () => JSON.parse(new GeosearchAnswerWriter().write({ hits: [hitOf(hubject, 10)], cursor: 'abc' }).toString('utf8'))

  test('the answer it is compared with is valid', () => {
    assert.ok(valid(good()), ajv.errorsText(valid.errors))
  })

  const broken: Array<[string, (answer: any) => void, RegExp]> = [
    ['a location without its distance', (a) => delete a.locations[0].distance, /distance/],
    ['a field the API does not document', (a) => (a.locations[0].x_partner_field = 42), /additional properties/],
    ['a removed EVSE', (a) => (a.locations[0].evses[0].status = 'REMOVED'), /status/],
    ['a power type other than AC or DC', (a) => (a.locations[0].evses[0].connectors[0].powerType = 'AC_3_PHASE'), /powerType/],
    ['a power in kilowatts as a string', (a) => (a.locations[0].evses[0].connectors[0].maxPower = '1000'), /maxPower/],
    ['coordinates as OCPI strings', (a) => (a.locations[0].coordinates.latitude = '51.31667'), /latitude/],
    ['a weekday outside 1 to 7', (a) => (a.locations[0].openingTimes.regularHours[0].weekday = 8), /weekday/],
    ['a location with no EVSE left', (a) => (a.locations[0].evses = []), /evses/],
    ['a last update that is no date-time', (a) => (a.locations[0].lastUpdated = 'yesterday'), /lastUpdated/],
    ['a cursor that is not a string', (a) => (a.cursor = 7), /cursor/],
  ]
  for (const [what, breakIt, names] of broken) {
    test(`${what} is refused`, () => {
      const answer = good()
      breakIt(answer)
      assert.equal(valid(answer), false)
      assert.match(ajv.errorsText(valid.errors), names)
    })
  }
})
