import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { toPem } from '../../core/pki/encoding.ts'
import type { Platform } from '../../platform.ts'
import type { CaChain } from '../../services/ca/authorities.ts'

/**
 * Our CA's public services, as chargers, CSMSs and cars' backends call them: no API key. Every
 * operation is in this table (path, media type, what it answers); the server serves exactly these.
 */
export const PKI_OPERATIONS = {
  ocspPost: {
    method: 'POST',
    url: '/pki/ocsp',
    answers: 'application/ocsp-response',
    summary: 'OCSP responder (RFC 6960), request in the body',
  },
  ocspGet: {
    method: 'GET',
    url: '/pki/ocsp/*',
    answers: 'application/ocsp-response',
    summary: 'OCSP responder (RFC 6960 A.1), the base64 of the DER request URL-encoded in the path',
  },
  crl: {
    method: 'GET',
    url: '/pki/crl/:file',
    answers: 'application/pkix-crl',
    summary: "a CA's CRL (DER), named <SubjectKeyIdentifier>.crl",
  },
  rootPem: {
    method: 'GET',
    url: '/pki/root.pem',
    answers: 'application/x-pem-file',
    summary: 'the MO root certificate (PEM): the trust anchor of our contracts',
  },
  rootDer: { method: 'GET', url: '/pki/root.crt', answers: 'application/pkix-cert', summary: 'the MO root certificate (DER)' },
  chainPem: {
    method: 'GET',
    url: '/pki/chain.pem',
    answers: 'application/x-pem-file',
    summary: 'the issuing chain (PEM): Sub-CA 2, Sub-CA 1, root',
  },
} as const

/** OCSP requests are small; a large body is not one. */
const OCSP_REQUEST_LIMIT = 16_384

const notFoundBody = (message: string) => ({ error: { code: 'not_found', message } })

export const pkiServices: FastifyPluginAsync<{ platform: Platform }> = async (app, { platform }) => {
  const { revocation, authorities } = platform.ca
  const P = PKI_OPERATIONS
  // Binary answers for stations, not partners' JSON API: documented in the README, not in /docs.
  const doc = (op: { summary: string }) => ({ summary: op.summary, hide: true })

  app.addContentTypeParser('application/ocsp-request', { parseAs: 'buffer', bodyLimit: OCSP_REQUEST_LIMIT }, (_request, body, done) =>
    done(null, body),
  )

  const sendOcsp = (reply: FastifyReply, answer: Buffer) =>
    // Nonce-less answers may be cached by relying parties until shortly before they are renewed.
    reply.code(200).header('content-type', P.ocspPost.answers).header('cache-control', 'max-age=60, public, no-transform').send(answer)

  app.route({
    method: P.ocspPost.method,
    url: P.ocspPost.url,
    schema: { ...doc(P.ocspPost), operationId: 'ocspPost' },
    handler: async (request, reply) => {
      if (!Buffer.isBuffer(request.body)) {
        return reply
          .code(415)
          .send({ error: { code: 'unsupported_media_type', message: 'send the OCSP request as application/ocsp-request' } })
      }
      return sendOcsp(reply, await revocation.answerOcsp(request.body))
    },
  })

  app.route({
    method: P.ocspGet.method,
    url: P.ocspGet.url,
    schema: { ...doc(P.ocspGet), operationId: 'ocspGet' },
    handler: async (request, reply) => {
      // The raw path: base64 may hold "//", which routing would fold into one slash.
      const raw = (request.raw.url ?? '').split('?')[0]!
      const encoded = raw.slice(raw.indexOf('/pki/ocsp/') + '/pki/ocsp/'.length)
      let der: Buffer
      try {
        der = Buffer.from(decodeURIComponent(encoded), 'base64')
      } catch {
        der = Buffer.alloc(0)
      }
      return sendOcsp(reply, await revocation.answerOcsp(der))
    },
  })

  app.route({
    method: P.crl.method,
    url: P.crl.url,
    schema: { ...doc(P.crl), operationId: 'getCrl' },
    handler: async (request, reply) => {
      const { file } = request.params as { file: string }
      const match = /^([0-9a-fA-F]{2,64})\.crl$/.exec(file)
      const crl = match ? await revocation.crl(match[1]!.toLowerCase()) : undefined
      if (!crl) return reply.code(404).send(notFoundBody(`no CRL ${file}: CRLs are named <SubjectKeyIdentifier of the CA, hex>.crl`))
      return reply.code(200).header('content-type', P.crl.answers).header('cache-control', 'max-age=300, public').send(crl)
    },
  })

  // The trust anchor and the issuing chain, in the forms stations and tools take.
  const published: Array<{
    op: (typeof P)['rootPem' | 'rootDer' | 'chainPem']
    operationId: string
    body: (chain: CaChain) => string | Buffer
  }> = [
    { op: P.rootPem, operationId: 'getRootPem', body: (chain) => toPem(chain.root.certificateDer) },
    { op: P.rootDer, operationId: 'getRootDer', body: (chain) => chain.root.certificateDer },
    {
      op: P.chainPem,
      operationId: 'getChainPem',
      body: (chain) => [chain.subCa2, chain.subCa1, chain.root].map((a) => toPem(a.certificateDer)).join(''),
    },
  ]
  for (const { op, operationId, body } of published) {
    app.route({
      method: op.method,
      url: op.url,
      schema: { ...doc(op), operationId },
      handler: async (_request, reply) => {
        const chain = await authorities.currentChain()
        if (!chain) return reply.code(404).send(notFoundBody('the MO certificate authority has no chain yet'))
        return reply.header('content-type', op.answers).send(body(chain))
      },
    })
  }
}
