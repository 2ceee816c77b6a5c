import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { isRealInstant } from '../src/core/date-time.ts'
import { RouteMethods } from '../src/infra/http/allowed-methods.ts'
import { closestName, editDistance } from '../src/infra/http/edit-distance.ts'
import { MAX_JSON_DEPTH, parseJsonBody, urlHasNul } from '../src/infra/http/json-body.ts'
import { closedObjects } from '../src/infra/http/validation.ts'
import { validateLocation } from '../src/protocols/ocpi/location-validation.ts'
import { pageRequest } from '../src/protocols/ocpi/transport.ts'
import { OpenpncError } from '../src/core/errors.ts'

/** The error a call throws, as code and message. */
function thrown(fn: () => unknown): { code: string; message: string; details?: Record<string, unknown> } {
  try {
    fn()
  } catch (error) {
    assert.ok(error instanceof OpenpncError, `an OpenpncError, got ${error}`)
    return { code: error.code, message: error.message, details: error.details }
  }
  assert.fail('expected an error')
}

describe('edit distance and the "did you mean" suggestion', () => {
  test('edit distance counts insertions, deletions and substitutions, ignoring case', () => {
    assert.equal(editDistance('kitten', 'sitting'), 3)
    assert.equal(editDistance('', 'abc'), 3)
    assert.equal(editDistance('contractID', 'contractId'), 0)
    assert.equal(editDistance('enable', 'enabled'), 1)
  })

  test('a close unknown name suggests the known one, a distant or ambiguous one suggests nothing', () => {
    assert.equal(closestName('contractID', ['pcid', 'contractId', 'validTo']), 'contractId')
    assert.equal(closestName('enable', ['enabled', 'name', 'validTo']), 'enabled')
    assert.equal(closestName('filter', ['filters', 'limit', 'cursor']), 'filters')
    assert.equal(closestName('colour', ['pcid', 'contractId']), undefined)
    assert.equal(closestName('ab', ['ac', 'ad']), undefined, 'two equally close names: no guess')
  })
})

describe('real instants', () => {
  test('RFC 3339 date-times of real instants are accepted', () => {
    for (const value of ['2030-01-01T00:00:00Z', '2024-02-29T23:59:59.123+01:00', '0001-01-01T00:00:00Z', '9999-12-31T23:59:59Z']) {
      assert.equal(isRealInstant(value), true, value)
    }
  })

  test('leap seconds, year 0000, impossible days and hours, and missing offsets are refused', () => {
    for (const value of [
      '2016-12-31T23:59:60Z',
      '0000-01-01T00:00:00Z',
      '2023-02-29T00:00:00Z',
      '2024-04-31T00:00:00Z',
      '2024-01-01T24:00:00Z',
      '2024-01-01T00:00:00+24:00',
      '2024-01-01T00:00:00',
      '2024-01-01',
      'yesterday',
    ]) {
      assert.equal(isRealInstant(value), false, value)
    }
  })

  test('OCPI may leave the offset out (UTC), and still gets no leap second', () => {
    assert.equal(isRealInstant('2015-06-29T20:39:09', { offsetRequired: false }), true)
    assert.equal(isRealInstant('2016-12-31T23:59:60', { offsetRequired: false }), false)
  })

  test('an OCPI location with last_updated in year 0000 is refused naming the field', () => {
    const error = thrown(() => validateLocation({ last_updated: '0000-01-01T00:00:00Z' }, true))
    assert.match(error.message, /^last_updated must be an RFC 3339 date-time/)
  })

  test('OCPI date_from of a leap second or year 0000 is a 2001, not a database error', () => {
    for (const value of ['2016-12-31T23:59:60Z', '0000-01-01T00:00:00Z']) {
      assert.throws(() => pageRequest({ date_from: value }, 100), /date_from must be an RFC 3339 date-time/)
    }
    assert.equal(pageRequest({ date_from: '2020-01-01T00:00:00' }, 100).dateFrom?.toISOString(), '2020-01-01T00:00:00.000Z')
  })
})

describe('the JSON body parser', () => {
  test('parses ordinary JSON', () => {
    assert.deepEqual(parseJsonBody('{"a": [1, "x", {"b": null}]}'), { a: [1, 'x', { b: null }] })
    assert.equal(parseJsonBody('"a \\\\u0000 b"'), 'a \\u0000 b', 'an escaped backslash before u0000 is not a NUL')
  })

  test(`nesting up to ${MAX_JSON_DEPTH} levels is read, deeper is nesting_too_deep`, () => {
    const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`
    assert.ok(parseJsonBody(nested(MAX_JSON_DEPTH)))
    assert.equal(thrown(() => parseJsonBody(nested(MAX_JSON_DEPTH + 1))).code, 'nesting_too_deep')
    // Brackets inside strings are text, not nesting.
    assert.ok(parseJsonBody(JSON.stringify({ a: '['.repeat(100) })))
    // A hundred thousand levels do not reach the parser (nor a stack).
    assert.equal(thrown(() => parseJsonBody('{"a":'.repeat(100_000))).code, 'nesting_too_deep')
  })

  test('a NUL character in a value or a key is nul_character naming the field', () => {
    const value = thrown(() => parseJsonBody('{"user": {"names": ["ok", "a\\u0000b"]}}'))
    assert.equal(value.code, 'nul_character')
    assert.equal(value.details?.field, 'user.names[1]')
    assert.match(value.message, /^user\.names\[1\] must not contain a NUL character/)
    assert.equal(thrown(() => parseJsonBody('{"a\\u0000": 1}')).details?.field, 'a\u0000')
  })

  test('__proto__ and constructor.prototype are forbidden keys, named', () => {
    const proto = thrown(() => parseJsonBody('{"a": {"__proto__": {"admin": true}}}'))
    assert.equal(proto.code, 'forbidden_key')
    assert.match(proto.message, /"__proto__" in a/)
    const escaped = thrown(() => parseJsonBody('{"\\u005f_proto__": {}}'))
    assert.equal(escaped.code, 'forbidden_key')
    const ctor = thrown(() => parseJsonBody('{"constructor": {"prototype": {}}}'))
    assert.match(ctor.message, /constructor\.prototype/)
    assert.deepEqual(parseJsonBody('{"constructor": "a string is harmless"}'), { constructor: 'a string is harmless' })
  })

  test('malformed JSON is malformed_json', () => {
    assert.equal(thrown(() => parseJsonBody('{"a": ')).code, 'malformed_json')
    assert.equal(thrown(() => parseJsonBody('{"a": "raw \u0000 NUL"}')).code, 'malformed_json')
  })

  test('a NUL in a URL is found encoded, not as %2500', () => {
    assert.equal(urlHasNul('/v1/users/a%00b'), true)
    assert.equal(urlHasNul('/v1/users/a?x=%00'), true)
    assert.equal(urlHasNul('/v1/users/a%2500b'), false)
  })
})

describe('closed object schemas', () => {
  test('objects with properties are closed by default, an explicit additionalProperties stays, the input is not changed', () => {
    const schema = {
      type: 'object',
      properties: {
        a: { type: 'object', properties: { b: { type: 'string' } } },
        open: { type: 'object', properties: {}, additionalProperties: true },
        list: { type: 'array', items: { type: 'object', properties: { c: { type: 'string' } } } },
        either: { anyOf: [{ type: 'object', properties: { d: { type: 'string' } } }, { type: 'null' }] },
      },
    }
    const closed = closedObjects(schema) as typeof schema & Record<string, any>
    assert.equal(closed.additionalProperties, false)
    assert.equal((closed.properties.a as any).additionalProperties, false)
    assert.equal((closed.properties.open as any).additionalProperties, true)
    assert.equal((closed.properties.list as any).items.additionalProperties, false)
    assert.equal((closed.properties.either as any).anyOf[0].additionalProperties, false)
    assert.equal((schema as any).additionalProperties, undefined, 'the original is untouched')
  })
})

describe('allowed methods of a path', () => {
  test('a path lists the methods of every route pattern it matches, with HEAD for GET, ignoring extra slashes', () => {
    const routes = new RouteMethods()
    routes.add('GET', '/v1/users/:userId')
    routes.add(['PATCH', 'DELETE'], '/v1/users/:userId')
    routes.add('POST', '/v1/users')
    routes.add('GET', '/docs/*')
    assert.deepEqual(routes.allowed('/v1/users/driver-1'), ['DELETE', 'GET', 'HEAD', 'PATCH'])
    assert.deepEqual(routes.allowed('//v1/users/driver-1/'), ['DELETE', 'GET', 'HEAD', 'PATCH'])
    assert.deepEqual(routes.allowed('/v1/users'), ['POST'])
    assert.deepEqual(routes.allowed('/v1/users/a/b'), [])
    assert.deepEqual(routes.allowed('/docs/static/index.html'), ['GET', 'HEAD'])
  })
})
