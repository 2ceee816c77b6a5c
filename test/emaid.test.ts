import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import {
  compactEmaid,
  contractIdPrefixAllowed,
  emaidCheckCharacter,
  emaidIdentity,
  formatEmaid,
  generateEmaid,
  normalizeContractIdPrefix,
  normalizePcid,
  parseEmaid,
  parseEmaidPrefix,
} from '../src/core/identifiers/index.ts'

const vectors = JSON.parse(readFileSync(new URL('../spec/vectors/emaid-check-digits.json', import.meta.url), 'utf8')) as {
  vectors: Array<{ input: string; check: string }>
}

describe('EMAID check character (eMI3 / ISO 15118-1)', () => {
  for (const { input, check } of vectors.vectors) {
    test(`${input} has check character ${check}`, () => {
      assert.equal(emaidCheckCharacter(input), check)
    })
  }

  test('the documentation example DE-8PS-C0AD21B13 computes P, not the printed Q', () => {
    assert.equal(emaidCheckCharacter('DE8PSC0AD21B13'), 'P')
  })

  test('every single-character substitution changes the check character', () => {
    const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'
    const payload = 'DE8PSC0AD21B13'
    const original = emaidCheckCharacter(payload)
    for (let i = 2; i < payload.length; i++) {
      for (const c of alphabet) {
        if (c === payload[i]) continue
        const changed = payload.slice(0, i) + c + payload.slice(i + 1)
        assert.notEqual(emaidCheckCharacter(changed), original, `${changed} collides with ${payload}`)
      }
    }
  })

  test('a payload that is not 14 characters is refused', () => {
    assert.throws(() => emaidCheckCharacter('DE8PS'), RangeError)
  })
})

describe('EMAID parsing', () => {
  test('all separator and case forms of a contract have the same identity', () => {
    for (const form of ['DE-8PS-C0AD21B13-P', 'DE8PSC0AD21B13P', 'DE8PSC0AD21B13', 'de-8ps-c0ad21b13', 'DE-8PS-C0AD21B13-Q']) {
      assert.equal(emaidIdentity(form), 'DE8PSC0AD21B13', form)
    }
  })

  test('the parts and the check character are read as written, upper-cased', () => {
    assert.deepEqual(parseEmaid('de-8ps-c0ad21b13-q'), {
      country: 'DE',
      provider: '8PS',
      instance: 'C0AD21B13',
      checkCharacter: 'Q',
      identity: 'DE8PSC0AD21B13',
    })
    assert.equal(parseEmaid('DE8PSC0AD21B13')?.checkCharacter, null)
  })

  test('malformed EMAIDs are not parsed', () => {
    for (const bad of [
      '',
      'DE',
      '1E-8PS-C0AD21B13',
      'DE-8PS-C0AD21B1',
      'DE-8PS-C0AD21B13-PP',
      'DE_8PS_C0AD21B13',
      'DE--8PS-C0AD21B13',
      'DÉ-8PS-C0AD21B13',
    ]) {
      assert.equal(parseEmaid(bad), null, bad)
    }
  })

  test('formatting prints separators and the correct check character', () => {
    assert.equal(formatEmaid(parseEmaid('de8psc0ad21b13q')!), 'DE-8PS-C0AD21B13-P')
    assert.equal(compactEmaid(parseEmaid('DE-8PS-C0AD21B13')!), 'DE8PSC0AD21B13P')
    assert.equal(compactEmaid(parseEmaid('DE-8PS-C0AD21B13-Q')!), 'DE8PSC0AD21B13Q')
  })

  test('contract-ID prefixes compare without separators and in any case', () => {
    const emaid = parseEmaid('DE-8PS-C0AD21B13-P')!
    assert.equal(contractIdPrefixAllowed(emaid, [normalizeContractIdPrefix('de-8ps')!]), true)
    assert.equal(contractIdPrefixAllowed(emaid, [normalizeContractIdPrefix('DE8PSC0')!]), true)
    assert.equal(contractIdPrefixAllowed(emaid, [normalizeContractIdPrefix('DE-ABC')!]), false)
    assert.equal(contractIdPrefixAllowed(emaid, []), false)
    assert.equal(normalizeContractIdPrefix('8P'), null)
  })

  test('an EMAID prefix for generation is a country and a provider ID', () => {
    assert.deepEqual(parseEmaidPrefix('de-8ps'), { country: 'DE', provider: '8PS' })
    assert.equal(parseEmaidPrefix('DE-8P'), null)
  })
})

describe('EMAID generation', () => {
  test('a generated EMAID has instance C plus 8 alphanumerics and a valid check character', () => {
    const emaid = generateEmaid({ country: 'DE', provider: '8PS' })
    const printed = formatEmaid(emaid)
    assert.match(printed, /^DE-8PS-C[0-9A-Z]{8}-[0-9A-Z]$/)
    assert.equal(emaid.checkCharacter, emaidCheckCharacter(emaid.identity))
  })

  test('100,000 generated EMAIDs are distinct and spread over the alphabet (not sequential)', () => {
    const seen = new Set<string>()
    const firstChars = new Set<string>()
    for (let i = 0; i < 100_000; i++) {
      const emaid = generateEmaid({ country: 'DE', provider: '8PS' })
      seen.add(emaid.identity)
      firstChars.add(emaid.instance[1]!)
    }
    assert.equal(seen.size, 100_000)
    assert.equal(firstChars.size, 36)
  })
})

describe('PCID', () => {
  test('17 or 18 alphanumerics are accepted and stored upper-case', () => {
    assert.equal(normalizePcid('wdbrf61j21f123456'), 'WDBRF61J21F123456')
    assert.equal(normalizePcid('WDBRF61J21F1234567'), 'WDBRF61J21F1234567')
  })

  test('other lengths and characters are refused', () => {
    for (const bad of ['', 'WDBRF61J21F12345', 'WDBRF61J21F12345678', 'WDBRF61J21F12345-', 'WDBRF61J21F12345 ']) {
      assert.equal(normalizePcid(bad), null, bad)
    }
  })
})
