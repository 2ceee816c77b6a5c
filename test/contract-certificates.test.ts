// Contract certificates through the Drive API, end to end: issuance from a vehicle's provisioning
// certificate, the contract data as the car opens it, renewal, revocation, expiry, the OCSP
// responder and CRLs judged by the `openssl` command, and the keys' events reaching a CPO.
import { strict as assert } from 'node:assert'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { request } from 'undici'
import { toPem } from '../src/core/pki/encoding.ts'
import { keyMatchesPoint, openContractKey } from '../src/core/pki/key-envelope.ts'
import { certificateSummary, profileViolations } from '../src/core/pki/profiles.ts'
import { CpoSimulator } from '../src/sim/cpo.ts'
import { makeOemPki } from './oem-pki.ts'
import { backends, startTestPlatform, waitFor, type TestPlatform } from './support.ts'

const OPENSSL = spawnSync('openssl', ['version']).status === 0
const needsOpenssl = OPENSSL ? {} : { skip: 'openssl is not installed: the independent judge of certificates, OCSP and CRLs is skipped' }

const PCID = 'WMIV2GTESTCAR0001'
const OTHER_PCID = 'WMIV2GTESTCAR0002'

/** The private scalar of a node:crypto EC key. */
const scalarOf = (key: import('node:crypto').KeyObject) => Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url')

/** A vehicle's provisioning certificate as a partner sends it: base64 DER, with its Sub-CAs. */
const provisioningOf = (vehicle: { provisioning: Buffer; chain: Buffer[] }) => ({
  oemProvisioningCertificate: vehicle.provisioning.toString('base64'),
  chain: vehicle.chain.map((c) => c.toString('base64')),
})

for (const backend of backends()) {
  describe(`contract certificates from our MO CA (${backend})`, () => {
    let t: TestPlatform
    let orgKey: string
    let otherOrgKey: string
    let cpo: CpoSimulator
    let dir: string
    let oem: Awaited<ReturnType<typeof makeOemPki>>
    let otherCar: Awaited<ReturnType<typeof makeOemPki>>
    const drive = (key: string, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
      t.request(key, { method, url, ...(payload && { payload }) })
    const file = (name: string, content: string | Buffer) => {
      const path = join(dir, name)
      writeFileSync(path, content)
      return path
    }
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    // Asynchronous: the responder it may ask runs in this very process.
    const opensslAll = async (...args: string[]) => {
      const child = spawn('openssl', args, { cwd: dir })
      let output = ''
      child.stdout.on('data', (chunk: Buffer) => (output += chunk))
      child.stderr.on('data', (chunk: Buffer) => (output += chunk))
      await once(child, 'close')
      return output
    }
    const certificateOf = async (key: string) =>
      (await drive(orgKey, 'GET', `/v1/users/driver/charging-keys/${key}/contract-certificate`)).json()

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'openpnc-contracts-'))
      oem = await makeOemPki({ pcid: PCID })
      otherCar = await makeOemPki({ pcid: OTHER_PCID })
      const roots = file('oem-roots.pem', toPem(oem.root))
      t = await startTestPlatform(
        backend,
        { OPENPNC_PKI_TRUSTED_ROOTS: roots, OPENPNC_OCPI_PUSH_POLL_MS: '100', OPENPNC_PKI_JOB_INTERVAL_MS: '3600000' },
        { listen: true },
      )
      orgKey = (await t.createOrganization({ name: 'Contract Mobility', duplicateContractIds: 'allow' })).apiKey
      otherOrgKey = (await t.createOrganization({ name: 'Other Mobility', contractIdPrefixes: ['DE-9XX'] })).apiKey
      await drive(orgKey, 'POST', '/v1/users', { id: 'driver' })
      await drive(orgKey, 'POST', '/v1/users', { id: 'second' })
      const partner = await t.createOcpiPartner('Contract CPO')
      cpo = new CpoSimulator({ countryCode: 'NL', partyId: 'CRT' })
      await cpo.start()
      await cpo.registerWith(partner.versionsUrl, partner.tokenA)
      const root = await request(`${t.url}/pki/root.pem`)
      assert.equal(root.statusCode, 200)
      file('mo-root.pem', await root.body.text())
      file('mo-chain.pem', await (await request(`${t.url}/pki/chain.pem`)).body.text())
    })
    after(async () => {
      await cpo?.stop()
      await t?.close()
      rmSync(dir, { recursive: true, force: true })
    })

    let contractKey: Buffer
    let firstSerial: string

    test('a key created with the provisioning certificate answers with contract data the car can open', async () => {
      const created = await drive(orgKey, 'POST', '/v1/users/driver/charging-keys/plug-and-charge', {
        pcid: PCID,
        contractId: 'DE-8PS-CERT00001',
        certificate: {
          oemProvisioningCertificate: oem.provisioning.toString('base64'),
          chain: [oem.subCa2, oem.subCa1].map((c) => c.toString('base64')),
        },
      })
      assert.equal(created.statusCode, 201, created.body)
      const body = created.json()
      const data = body.contractData
      assert.match(data.emaid, /^DE8PSCERT00001[A-Z0-9]$/)
      const certificate = Buffer.from(data.contractCertificate, 'base64')
      const encrypted = Buffer.from(data.contractSignatureEncryptedPrivateKey, 'base64')
      const dh = Buffer.from(data.dHpublickey, 'base64')
      assert.equal(encrypted.length, 48)
      assert.equal(dh.length, 65)
      // The car: decrypt with its provisioning key, then d·G must be the certificate's key.
      contractKey = openContractKey({ encryptedPrivateKey: encrypted, dhPublicKey: dh }, scalarOf(oem.provisioningKey))
      const summary = certificateSummary(certificate)
      assert.ok(keyMatchesPoint(contractKey, summary.publicKey))
      assert.equal(summary.commonName, data.emaid)
      assert.deepEqual(profileViolations(certificate, 'contract'), [])
      assert.deepEqual(profileViolations(Buffer.from(data.contractSubCa2Certificate, 'base64'), 'sub_ca_2'), [])
      assert.deepEqual(profileViolations(Buffer.from(data.contractSubCa1Certificate, 'base64'), 'sub_ca_1'), [])
      // The key's validity is the certificate's.
      assert.equal(body.validTo, summary.notAfter.toISOString())
      assert.equal(body.contractCertificate.status, 'active')
      assert.equal(body.contractCertificate.validTo, summary.notAfter.toISOString())
      firstSerial = body.contractCertificate.serialNumber
    })

    test('openssl verifies the contract chain to the MO root strictly', needsOpenssl, async () => {
      const current = await certificateOf('DE8PSCERT00001')
      file('contract.pem', toPem(Buffer.from(current.certificate, 'base64')))
      file(
        'subs.pem',
        toPem(Buffer.from(current.contractData.contractSubCa2Certificate, 'base64')) +
          toPem(Buffer.from(current.contractData.contractSubCa1Certificate, 'base64')),
      )
      assert.match(
        openssl('verify', '-x509_strict', '-CAfile', 'mo-root.pem', '-untrusted', 'subs.pem', 'contract.pem'),
        /contract\.pem: OK/,
      )
    })

    test('the key and the listing show the certificate status', async () => {
      const current = await certificateOf('DE8PSCERT00001')
      assert.equal(current.status, 'active')
      assert.equal(current.pcid, PCID)
      const list = (await drive(orgKey, 'GET', '/v1/users/driver/charging-keys')).json()
      const key = list.keys.find((k: { contractId: string }) => k.contractId === 'DE-8PS-CERT00001')
      assert.equal(key.contractCertificate.status, 'active')
    })

    test('a provisioning certificate whose CN is not the PCID is refused naming both', async () => {
      const answer = await drive(orgKey, 'POST', '/v1/users/driver/charging-keys/plug-and-charge', {
        pcid: 'WMIV2GTESTCAR0099',
        certificate: { oemProvisioningCertificate: toPem(oem.provisioning) + oem.chain.map((c) => toPem(c)).join('') },
      })
      assert.equal(answer.statusCode, 400)
      const error = answer.json().error
      assert.equal(error.code, 'pcid_mismatch')
      assert.match(error.message, /WMIV2GTESTCAR0099/)
      assert.match(error.message, new RegExp(PCID))
      assert.equal(error.errors[0].field, 'certificate.oemProvisioningCertificate')
    })

    test('an expired or untrusted provisioning certificate is refused with the rule it broke, and no key is left behind', async () => {
      const expired = await makeOemPki({
        pcid: 'WMIV2GEXPIREDCAR1',
        notBefore: new Date(Date.now() - 3 * 86_400_000),
        notAfter: new Date(Date.now() - 86_400_000),
      })
      const stranger = await makeOemPki({ pcid: 'WMIV2GSTRANGECAR1', strangerRoot: true })
      for (const [pki, rule] of [
        [expired, /expired|not valid after/i],
        [stranger, /trusted|chain/i],
      ] as const) {
        const answer = await drive(orgKey, 'POST', '/v1/users/driver/charging-keys/plug-and-charge', {
          pcid: pki.pcid,
          certificate: provisioningOf(pki),
        })
        assert.equal(answer.statusCode, 400, answer.body)
        assert.equal(answer.json().error.code, 'invalid_provisioning_certificate')
        assert.match(answer.json().error.message, rule)
      }
      const list = (await drive(orgKey, 'GET', '/v1/users/driver/charging-keys')).json()
      assert.equal(list.keys.filter((k: { pcid?: string }) => k.pcid === expired.pcid || k.pcid === stranger.pcid).length, 0)
    })

    test('a second PCID for the same EMAID is a conflict', async () => {
      const answer = await drive(orgKey, 'POST', '/v1/users/second/charging-keys/plug-and-charge', {
        pcid: OTHER_PCID,
        contractId: 'DE-8PS-CERT00001',
        certificate: provisioningOf(otherCar),
      })
      assert.equal(answer.statusCode, 409, answer.body)
      assert.equal(answer.json().error.code, 'emaid_bound_to_other_pcid')
      const list = (await drive(orgKey, 'GET', '/v1/users/second/charging-keys')).json()
      assert.equal(list.keys.filter((k: { type: string }) => k.type === 'plug_and_charge').length, 0, 'the key was not created either')
    })

    test('renewal for the current contract key keeps the EMAID and PCID and supersedes the old certificate', async () => {
      const renewed = await drive(orgKey, 'POST', '/v1/users/driver/charging-keys/DE8PSCERT00001/contract-certificate/renew', {
        peer: 'contract',
      })
      assert.equal(renewed.statusCode, 201, renewed.body)
      const body = renewed.json()
      assert.equal(body.status, 'active')
      assert.equal(body.ecdhPeer, 'contract')
      assert.equal(body.renewed, true)
      assert.equal(body.pcid, PCID)
      assert.notEqual(body.serialNumber, firstSerial)
      const data = body.contractData
      assert.match(data.emaid, /^DE8PSCERT00001/)
      // An ISO 15118-2 CertificateUpdate: the car opens it with its current contract key.
      const next = openContractKey(
        {
          encryptedPrivateKey: Buffer.from(data.contractSignatureEncryptedPrivateKey, 'base64'),
          dhPublicKey: Buffer.from(data.dHpublickey, 'base64'),
        },
        contractKey,
      )
      assert.ok(keyMatchesPoint(next, certificateSummary(Buffer.from(data.contractCertificate, 'base64')).publicKey))
      const old = await t.database.db
        .selectFrom('contract_certificates')
        .select('status')
        .where('serial_number', '=', firstSerial)
        .executeTakeFirstOrThrow()
      assert.equal(old.status, 'superseded')
      // And once more for the OEM key (a new installation), from the stored provisioning certificate.
      const again = await drive(orgKey, 'POST', '/v1/users/driver/charging-keys/DE8PSCERT00001/contract-certificate/renew', { peer: 'oem' })
      assert.equal(again.statusCode, 201, again.body)
      const d2 = again.json().contractData
      const opened = openContractKey(
        {
          encryptedPrivateKey: Buffer.from(d2.contractSignatureEncryptedPrivateKey, 'base64'),
          dhPublicKey: Buffer.from(d2.dHpublickey, 'base64'),
        },
        scalarOf(oem.provisioningKey),
      )
      assert.ok(keyMatchesPoint(opened, certificateSummary(Buffer.from(d2.contractCertificate, 'base64')).publicKey))
      assert.equal(again.json().pcid, PCID)
    })

    test(
      'openssl ocsp reports good, then revoked with time and reason after revocation (SHA-1, SHA-256 and GET), and the CPO gets valid:false',
      needsOpenssl,
      async () => {
        const current = await certificateOf('DE8PSCERT00001')
        file('leaf.pem', toPem(Buffer.from(current.certificate, 'base64')))
        file('sub2.pem', toPem(Buffer.from(current.contractData.contractSubCa2Certificate, 'base64')))
        file('sub1.pem', toPem(Buffer.from(current.contractData.contractSubCa1Certificate, 'base64')))
        // The OCSP signer is issued by Sub-CA 2: openssl needs both Sub-CAs to reach the root.
        file('intermediates.pem', readFileSync(join(dir, 'sub2.pem'), 'utf8') + readFileSync(join(dir, 'sub1.pem'), 'utf8'))
        const ask = async (...extra: string[]) =>
          opensslAll(
            'ocsp',
            // a digest option goes before -cert
            ...extra,
            '-url',
            `${t.url}/pki/ocsp`,
            '-issuer',
            'sub2.pem',
            '-cert',
            'leaf.pem',
            '-CAfile',
            'mo-root.pem',
            '-verify_other',
            'intermediates.pem',
          )
        const good = await ask()
        assert.match(good, /Response verify OK/)
        assert.match(good, /leaf\.pem: good/)
        assert.match(await ask('-sha256'), /leaf\.pem: good/)

        const uid = current.emaid as string
        await waitFor(() => cpo.tokens.get(`DE/8PS/${uid}`)?.valid === true, 15_000, 'the token at the CPO')

        const revoked = await drive(orgKey, 'POST', '/v1/users/driver/charging-keys/DE8PSCERT00001/contract-certificate/revoke', {
          reason: 'keyCompromise',
        })
        assert.equal(revoked.statusCode, 200, revoked.body)
        assert.equal(revoked.json().status, 'revoked')
        for (const answer of [await ask(), await ask('-sha256')]) {
          assert.match(answer, /Response verify OK/)
          assert.match(answer, /leaf\.pem: revoked/)
          assert.match(answer, /Reason: keyCompromise/)
          assert.match(answer, /Revocation Time:/)
        }
        // The GET form (RFC 6960 A.1): base64 of the DER request, URL-encoded, in the path.
        await opensslAll('ocsp', '-issuer', 'sub2.pem', '-cert', 'leaf.pem', '-no_nonce', '-reqout', 'req.der')
        const encoded = encodeURIComponent(readFileSync(join(dir, 'req.der')).toString('base64'))
        const got = await request(`${t.url}/pki/ocsp/${encoded}`)
        assert.equal(got.statusCode, 200)
        assert.equal(got.headers['content-type'], 'application/ocsp-response')
        file('resp.der', Buffer.from(await got.body.arrayBuffer()))
        const viaGet = await opensslAll(
          'ocsp',
          '-respin',
          'resp.der',
          '-issuer',
          'sub2.pem',
          '-cert',
          'leaf.pem',
          '-CAfile',
          'mo-root.pem',
          '-verify_other',
          'intermediates.pem',
        )
        assert.match(viaGet, /Response verify OK/)
        assert.match(viaGet, /leaf\.pem: revoked/)

        // The key is disabled, and the CPO hears it.
        const key = (await drive(orgKey, 'GET', '/v1/users/driver/charging-keys/DE8PSCERT00001')).json()
        assert.equal(key.enabled, false)
        assert.equal(key.contractCertificate.status, 'revoked')
        await waitFor(() => cpo.tokens.get(`DE/8PS/${uid}`)?.valid === false, 15_000, 'valid:false at the CPO')
      },
    )

    test('the CRL of Sub-CA 2 verifies with openssl and lists the revoked serial with its reason', needsOpenssl, async () => {
      const sub2 = certificateSummary(readPemCertificate(join(dir, 'sub2.pem')))
      const crl = await request(`${t.url}/pki/crl/${sub2.subjectKeyId}.crl`)
      assert.equal(crl.statusCode, 200)
      assert.equal(crl.headers['content-type'], 'application/pkix-crl')
      file('sub2.crl', Buffer.from(await crl.body.arrayBuffer()))
      file(
        'sub2-chain.pem',
        readFileSync(join(dir, 'sub2.pem'), 'utf8') +
          readFileSync(join(dir, 'sub1.pem'), 'utf8') +
          readFileSync(join(dir, 'mo-root.pem'), 'utf8'),
      )
      const text = await opensslAll('crl', '-in', 'sub2.crl', '-inform', 'DER', '-CAfile', 'sub2-chain.pem', '-noout', '-text')
      assert.match(text, /verify OK/)
      const current = await certificateOf('DE8PSCERT00001')
      assert.match(text.toLowerCase(), new RegExp(`serial number: ${current.serialNumber.toLowerCase()}`))
      assert.match(text, /Key Compromise/)
      // The superseded certificates of the contract are revoked with it.
      assert.match(text.toLowerCase(), new RegExp(firstSerial.toLowerCase()))
    })

    test('the responder answers for Sub-CA 2 and Sub-CA 1 too', needsOpenssl, async () => {
      const ask = (issuer: string, cert: string) =>
        opensslAll('ocsp', '-url', `${t.url}/pki/ocsp`, '-issuer', issuer, '-cert', cert, '-CAfile', 'mo-root.pem')
      const sub2 = await ask('sub1.pem', 'sub2.pem')
      assert.match(sub2, /Response verify OK/)
      assert.match(sub2, /sub2\.pem: good/)
      const sub1 = await ask('mo-root.pem', 'sub1.pem')
      assert.match(sub1, /Response verify OK/)
      assert.match(sub1, /sub1\.pem: good/)
    })

    test('a certificate can be issued again for the revoked key, and deleting the key revokes it', async () => {
      const issued = await drive(orgKey, 'POST', '/v1/users/driver/charging-keys/DE8PSCERT00001/contract-certificate', provisioningOf(oem))
      assert.equal(issued.statusCode, 201, issued.body)
      assert.equal(issued.json().status, 'active')
      const twice = await drive(orgKey, 'POST', '/v1/users/driver/charging-keys/DE8PSCERT00001/contract-certificate', provisioningOf(oem))
      assert.equal(twice.statusCode, 409)
      assert.equal(twice.json().error.code, 'contract_certificate_exists')
      const serial = issued.json().serialNumber as string
      assert.equal((await drive(orgKey, 'DELETE', '/v1/users/driver/charging-keys/DE8PSCERT00001')).statusCode, 204)
      const row = await t.database.db
        .selectFrom('contract_certificates')
        .select(['status', 'revocation_reason'])
        .where('serial_number', '=', serial)
        .executeTakeFirstOrThrow()
      assert.deepEqual(row, { status: 'revoked', revocation_reason: 'cessationOfOperation' })
      const events = await t.database.db
        .selectFrom('contract_certificate_events as e')
        .innerJoin('contract_certificates as c', 'c.id', 'e.certificate_id')
        .select('e.type')
        .where('c.serial_number', '=', serial)
        .orderBy('e.seq')
        .execute()
      assert.deepEqual(
        events.map((e) => e.type),
        ['issued', 'revoked'],
      )
    })

    test('an expired certificate disables its key and the CPO gets valid:false', async () => {
      const created = await drive(orgKey, 'POST', '/v1/users/driver/charging-keys/plug-and-charge', {
        pcid: PCID,
        contractId: 'DE-8PS-CERT00002',
        certificate: provisioningOf(oem),
      })
      assert.equal(created.statusCode, 201, created.body)
      const uid = created.json().contractData.emaid as string
      await waitFor(() => cpo.tokens.get(`DE/8PS/${uid}`)?.valid === true, 15_000, 'the token at the CPO')
      // The certificate's end, as the expiry job sees it, moved into the past.
      await sql`UPDATE contract_certificates SET not_before = now() - interval '2 days', not_after = now() - interval '1 minute' WHERE emaid = ${uid}`.execute(
        t.database.db,
      )
      const round = await t.platform.ca.jobs.runOnce()
      assert.equal(round.expired, 1)
      const key = (await drive(orgKey, 'GET', '/v1/users/driver/charging-keys/DE8PSCERT00002')).json()
      assert.equal(key.enabled, false)
      assert.equal(key.contractCertificate.status, 'expired')
      await waitFor(() => cpo.tokens.get(`DE/8PS/${uid}`)?.valid === false, 15_000, 'valid:false at the CPO')
    })

    test('the scheduled renewal renews a certificate inside the lead time and says so in its event', async () => {
      const created = await drive(orgKey, 'POST', '/v1/users/driver/charging-keys/plug-and-charge', {
        pcid: PCID,
        contractId: 'DE-8PS-CERT00003',
        certificate: provisioningOf(oem),
      })
      assert.equal(created.statusCode, 201, created.body)
      const oldSerial = created.json().contractCertificate.serialNumber as string
      await sql`UPDATE contract_certificates SET not_after = now() + interval '10 days' WHERE serial_number = ${oldSerial}`.execute(
        t.database.db,
      )
      const round = await t.platform.ca.jobs.runOnce()
      assert.equal(round.renewed, 1)
      const current = await certificateOf('DE8PSCERT00003')
      assert.notEqual(current.serialNumber, oldSerial)
      assert.equal(current.issuedBy, 'schedule')
      assert.equal(current.renewed, true)
      assert.equal(current.ecdhPeer, 'oem')
      const event = await t.database.db
        .selectFrom('contract_certificate_events')
        .select(['type', 'details'])
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirstOrThrow()
      assert.equal(event.type, 'renewed')
      assert.equal(event.details.issuedBy, 'schedule')
      const key = (await drive(orgKey, 'GET', '/v1/users/driver/charging-keys/DE8PSCERT00003')).json()
      assert.equal(key.validTo, current.validTo, "the key's validity follows the new certificate")
    })

    test("another organization gets 404 on every certificate route of this organization's key", async () => {
      await drive(otherOrgKey, 'POST', '/v1/users', { id: 'driver' })
      const base = '/v1/users/driver/charging-keys/DE8PSCERT00003/contract-certificate'
      const calls: Array<['GET' | 'POST', string, object?]> = [
        ['GET', base],
        ['POST', base, { oemProvisioningCertificate: oem.provisioning.toString('base64') }],
        ['POST', `${base}/renew`, { peer: 'contract' }],
        ['POST', `${base}/revoke`, { reason: 'unspecified' }],
      ]
      for (const [method, url, payload] of calls) {
        const answer = await drive(otherOrgKey, method, url, payload)
        assert.equal(answer.statusCode, 404, `${method} ${url}: ${answer.body}`)
        assert.equal(answer.json().error.code, 'charging_key_not_found')
      }
      assert.equal((await certificateOf('DE8PSCERT00003')).status, 'active', 'nothing changed')
    })

    test('a malformed OCSP request is answered malformedRequest, not an error page', async () => {
      const answer = await request(`${t.url}/pki/ocsp`, {
        method: 'POST',
        headers: { 'content-type': 'application/ocsp-request' },
        body: Buffer.from('not an OCSP request'),
      })
      assert.equal(answer.statusCode, 200)
      const der = Buffer.from(await answer.body.arrayBuffer())
      // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED malformedRequest (1) }
      assert.deepEqual([...der], [0x30, 0x03, 0x0a, 0x01, 0x01])
    })
  })
}

function readPemCertificate(path: string): Buffer {
  const text = readFileSync(path, 'utf8')
  return Buffer.from(text.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64')
}
