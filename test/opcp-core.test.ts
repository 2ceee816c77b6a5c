// The pure parts of openpnc's OPCP: the webhook signature rule, how Hubject's answers are read
// (with the errata named), the event table and the protocol table. No platform, no network.
import assert from 'node:assert/strict'
import { createHash, createHmac } from 'node:crypto'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { erratum, MAX_CERTIFICATE_BASE64, OPCP_ERRATA } from '../src/core/opcp/errata.ts'
import {
  readPcpAnswer,
  readRootCertificates,
  readSignedContractData,
  readWebhookEvent,
  signContractDataRequest,
} from '../src/core/opcp/messages.ts'
import { verifyWebhookSignature, webhookSignature } from '../src/core/opcp/webhook-signature.ts'
import { FieldRuleError } from '../src/core/errors.ts'
import { CALLED, opcpPath, webhookAction } from '../src/protocols/opcp/protocol.ts'

const BODY = Buffer.from(JSON.stringify({ eventId: '3b241101-e2bb-4255-8caf-4136c566a962', eventType: 'mo.prov.cert.updated' }))
const SECRET = 'whsec_test_secret'
const hex = createHmac('sha256', SECRET).update(BODY).digest('hex')
const base64 = createHmac('sha256', SECRET).update(BODY).digest('base64')

describe('the webhook signature', () => {
  test('X-Hubject-Signature "sha256=<hex>" of the raw body with the endpoint secret verifies', () => {
    const verdict = verifyWebhookSignature(BODY, { 'x-hubject-signature': `sha256=${hex}` }, [SECRET])
    assert.deepEqual(verdict, { ok: true, secretIndex: 0, header: 'x-hubject-signature' })
    assert.equal(webhookSignature(BODY, SECRET), hex)
  })

  test(`all three header names of erratum ${erratum('webhook-signature-headers').id} are accepted, in hex or base64`, () => {
    assert.equal(verifyWebhookSignature(BODY, { 'x-operator-signature': `sha256=${hex}` }, [SECRET]).ok, true)
    assert.equal(verifyWebhookSignature(BODY, { 'payload-signature': hex }, [SECRET]).ok, true)
    assert.equal(verifyWebhookSignature(BODY, { 'payload-signature': base64 }, [SECRET]).ok, true)
  })

  test('the signature of another body, another secret, or none at all is refused, saying which', () => {
    const tampered = Buffer.from(BODY.toString().replace('updated', 'deleted'))
    assert.deepEqual(verifyWebhookSignature(tampered, { 'x-hubject-signature': `sha256=${hex}` }, [SECRET]), {
      ok: false,
      reason: 'mismatch',
    })
    assert.deepEqual(verifyWebhookSignature(BODY, { 'x-hubject-signature': `sha256=${hex}` }, ['other']), { ok: false, reason: 'mismatch' })
    assert.deepEqual(verifyWebhookSignature(BODY, {}, [SECRET]), { ok: false, reason: 'missing' })
    assert.deepEqual(verifyWebhookSignature(BODY, { 'x-hubject-signature': 'sha256=zz' }, [SECRET]), { ok: false, reason: 'malformed' })
  })

  test('any endpoint secret may verify (an endpoint registered again has a new one)', () => {
    assert.deepEqual(verifyWebhookSignature(BODY, { 'x-hubject-signature': `sha256=${hex}` }, ['old', SECRET]), {
      ok: true,
      secretIndex: 1,
      header: 'x-hubject-signature',
    })
  })
})

describe("reading Hubject's answers", () => {
  const leaf = Buffer.from('leaf certificate')
  const subCa1 = Buffer.from('sub-ca 1')
  const subCa2 = Buffer.from('sub-ca 2')

  test(`a PCP answer is read under the deprecated and the new field names (erratum ${erratum('pcp-field-renames').id})`, () => {
    const old = readPcpAnswer({
      OEMMessage: {
        vehicleCertificate: leaf.toString('base64'),
        subCA1Certificate: subCa1.toString('base64'),
        subCA2Certificate: subCa2.toString('base64'),
      },
    })
    const renamed = readPcpAnswer({
      OEMMessage: {
        provisioningCertificate: leaf.toString('base64'),
        subCa1Certificate: subCa1.toString('base64'),
        subCa2Certificate: subCa2.toString('base64'),
      },
    })
    assert.deepEqual(old, renamed)
    assert.deepEqual(old.certificate, leaf)
    assert.deepEqual(old.chain, [subCa2, subCa1])
  })

  test('a PCP answer without Sub-CA 2 has a chain of Sub-CA 1 alone; without the certificate it names the field', () => {
    assert.deepEqual(
      readPcpAnswer({ OEMMessage: { vehicleCertificate: leaf.toString('base64'), subCA1Certificate: subCa1.toString('base64') } }).chain,
      [subCa1],
    )
    assert.throws(
      () => readPcpAnswer({ OEMMessage: { subCA1Certificate: 'AA==' } }),
      (e: unknown) => e instanceof FieldRuleError && e.field === 'OEMMessage.vehicleCertificate',
    )
    assert.throws(
      () => readPcpAnswer({}),
      (e: unknown) => e instanceof FieldRuleError && e.field === 'OEMMessage',
    )
  })

  test('pool roots are read with their SHA-256 fingerprint; a root without a usable certificate is skipped', () => {
    const { roots, skipped } = readRootCertificates({
      RootCertificateCollection: {
        rootCertificates: [
          { rootType: 'V2G', caCertificate: leaf.toString('base64'), rootCertificateId: 'a' },
          { rootType: 'oem', caCertificate: subCa1.toString('base64') },
          { rootType: 'V2G', caCertificate: 'not base64 !' },
          { caCertificate: subCa2.toString('base64') },
        ],
      },
    })
    assert.equal(skipped, 2)
    assert.deepEqual(
      roots.map((r) => [r.rootType, r.fingerprint]),
      [
        ['V2G', createHash('sha256').update(leaf).digest('hex')],
        ['OEM', createHash('sha256').update(subCa1).digest('hex')],
      ],
    )
  })

  test(`the CPS request carries both Sub-CAs (erratum ${erratum('contract-data-sub-ca-required').id}), the PCID and the namespace`, () => {
    const request = signContractDataRequest(
      {
        contractCertificate: 'QQ==',
        contractSubCa2Certificate: 'Qg==',
        contractSubCa1Certificate: 'Qw==',
        contractSignatureEncryptedPrivateKey: 'RA==',
        dHpublickey: 'RQ==',
      },
      'WMIV2GTESTCAR0001',
      'urn:iso:15118:2:2013:MsgDef',
    )
    assert.equal(request.contractData.contractSubCa2Certificate, 'Qg==')
    assert.equal(request.pcid, 'WMIV2GTESTCAR0001')
    assert.equal(request.xsdMsgDefNamespace, 'urn:iso:15118:2:2013:MsgDef')
  })

  test('the CPS answer keeps the signed data and its root; an answer without signed data is an error naming it', () => {
    assert.deepEqual(
      readSignedContractData({ signedData: 'PD94', cpsV2GRootCertificateFingerprint: 'ab', cpsRootDistinguishedName: 'CN=V2G' }),
      {
        signedData: 'PD94',
        rootFingerprint: 'ab',
        rootDistinguishedName: 'CN=V2G',
      },
    )
    assert.throws(
      () => readSignedContractData({ emaid: 'x' }),
      (e: unknown) => e instanceof FieldRuleError && e.field === 'signedData',
    )
  })

  test('a webhook event needs a UUID eventId and an eventType; EMAID and PCID are normalized', () => {
    const event = readWebhookEvent({
      eventId: '3B241101-E2BB-4255-8CAF-4136C566A962',
      eventType: 'mo.prov.cert.deleted',
      payload: { emaid: 'de-8ps-c0ad21b13-p', pcid: 'wmiv2gtestcar0001' },
    })
    assert.equal(event.eventId, '3b241101-e2bb-4255-8caf-4136c566a962')
    assert.equal(event.emaid, 'DE8PSC0AD21B13P')
    assert.equal(event.pcid, 'WMIV2GTESTCAR0001')
    assert.throws(
      () => readWebhookEvent({ eventId: 'x', eventType: 'a' }),
      (e: unknown) => e instanceof FieldRuleError && e.field === 'eventId',
    )
    assert.throws(
      () => readWebhookEvent({ eventId: event.eventId }),
      (e: unknown) => e instanceof FieldRuleError && e.field === 'eventType',
    )
  })
})

describe('the protocol table', () => {
  test(`each event type has its action; both factory reset names revoke (erratum ${erratum('factory-reset-event-name').id}); unknown ones are only kept`, () => {
    assert.equal(webhookAction('mo.prov.cert.updated'), 'reissue')
    assert.equal(webhookAction('mo.prov.cert.deleted'), 'revoke')
    assert.equal(webhookAction('mo.prov.cert.factory.reset'), 'revoke')
    assert.equal(webhookAction('mo.prov.cert.updated.factory.reset'), 'revoke')
    assert.equal(webhookAction('mo.contract.delivered.to.oem'), 'oem_status')
    assert.equal(webhookAction('root.cert.added'), 'roots')
    assert.equal(webhookAction('something.new'), 'unknown')
    assert.equal(webhookAction('constructor'), 'unknown')
  })

  test("every called operation's path and method are the reference's own", () => {
    for (const [name, op] of Object.entries(CALLED)) {
      const spec = JSON.parse(readFileSync(new URL(`../spec/opcp/1.0.0/${op.file}`, import.meta.url), 'utf8')) as {
        paths: Record<string, Record<string, { operationId?: string }>>
      }
      const operation = spec.paths[op.path]?.[op.method.toLowerCase()]
      assert.ok(operation, `${name}: ${op.method} ${op.path} is in ${op.file}`)
      assert.equal(operation.operationId, op.specOperationId, name)
    }
    assert.equal(opcpPath('deleteContract', { emaid: 'DE8PSC0AD21B13P' }), '/v1/ccp/signedContractData/DE8PSC0AD21B13P')
  })

  test('every erratum is named where it is handled in the source', () => {
    const files: string[] = []
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name)
        if (statSync(path).isDirectory()) walk(path)
        else if (name.endsWith('.ts') && !path.endsWith(join('core', 'opcp', 'errata.ts'))) files.push(readFileSync(path, 'utf8'))
      }
    }
    walk(new URL('../src', import.meta.url).pathname)
    for (const { id } of OPCP_ERRATA)
      assert.ok(
        files.some((text) => text.includes(id)),
        `erratum ${id} is handled somewhere`,
      )
    assert.equal(MAX_CERTIFICATE_BASE64, 1068)
  })
})
