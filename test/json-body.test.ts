import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { OpenpncError } from '../src/core/errors.ts'
import { parseJsonBody } from '../src/infra/http/json-body.ts'

function refusal(text: string): { code: string; message: string } {
  try {
    parseJsonBody(text)
  } catch (error) {
    assert.ok(error instanceof OpenpncError, `an OpenpncError, got ${error}`)
    return { code: error.code, message: error.message }
  }
  assert.fail(`expected ${text} to be refused`)
}

describe('a JSON request body', () => {
  test('naming a prototype key with any letter escaped is refused as that key', () => {
    assert.match(refusal('{"__\\u0070roto__": {"admin": true}}').message, /"__proto__"/)
    assert.match(refusal('{"a": {"\\u005F\\u005Fproto\\u005f\\u005f": {}}}').message, /"__proto__" in a/)
    assert.match(refusal('{"constructo\\u0072": {"prototype": {}}}').message, /constructor\.prototype/)
    assert.equal(refusal('[{"__\\u0070roto__": 1}]').code, 'forbidden_key')
  })

  test('that only mentions a prototype key, escaped or not, is kept as sent', () => {
    assert.deepEqual(parseJsonBody('{"a": "constructor", "b": "__proto__", "c": "caf\\u00e9"}'), {
      a: 'constructor',
      b: '__proto__',
      c: 'café',
    })
    assert.deepEqual(parseJsonBody('{"constructo\\u0072": "a string is harmless"}'), { constructor: 'a string is harmless' })
  })

  test('with an escaped NUL in a key or a value names the field', () => {
    assert.equal(refusal('{"name": "a\\u0000b"}').message, 'name must not contain a NUL character (\\u0000)')
    assert.equal(refusal('{"list": [1, "\\u0000"]}').code, 'nul_character')
  })
})
