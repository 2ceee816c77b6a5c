import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ErrorResponse } from '../../infra/http/errors.ts'
import { apiKeyRoutes } from '../../infra/http/api-key-routes.ts'
import { organizationOf } from '../../infra/http/auth.ts'
import type { Platform } from '../../platform.ts'
import { opcpNotConfigured } from '../opcp/ecosystem.ts'
import { invalid } from '../../core/errors.ts'
import { DRIVE_API as R } from './routes.ts'
import { webhookRoutes } from './webhooks.ts'
import {
  AuthorizationEndpointBody,
  AuthorizationEndpointResponse,
  AuthorizationEndpointSet,
  presentAuthorizationEndpoint,
  ChargingKeyList,
  ContractCertificateResponse,
  presentContractCertificate,
  presentContractState,
  presentPublication,
  provisioningSource,
  ProvisioningCertificateInput,
  PublicationResponse,
  PoolLookupResponse,
  RenewContractBody,
  RevokeContractBody,
  ChargingKeyResponse,
  CreatePlugAndChargeKeyBody,
  CreateRfidKeyBody,
  CreateUserBody,
  KeyParams,
  PlugAndChargeKeyCreated,
  presentKey,
  presentSessionDetail,
  SessionDetailResponse,
  SessionList,
  SessionListQuery,
  SessionParams,
  OrganizationSessionListQuery,
  OrganizationSessionParams,
  sessionPage,
  sessionWindow,
  presentUser,
  UpdateKeyBody,
  UpdateUserBody,
  UserParams,
  UserResponse,
} from './schemas.ts'

const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse }
const NoContent = Type.Null({ description: 'done' })

/** The partner REST API: a thin translation from HTTP to the domain services. */
export const driveApi: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const { users, chargingKeys, apiKeys, sessions } = platform
  const contracts = platform.ca.contracts
  /** Hubject's ecosystem, for `source: "pcp"`; a clear 409 when the platform is not connected to it. */
  const ecosystem = () => {
    if (!platform.opcp) throw opcpNotConfigured()
    return platform.opcp
  }
  /** The key's publication in the ecosystem, when its contract goes through it. */
  const publicationOfKey = async (keyId: string) => {
    const publication = await platform.opcp?.publication.get(keyId)
    return publication ? { publication: presentPublication(publication) } : {}
  }

  app.route({
    ...R.createUser.route,
    schema: { ...R.createUser.doc, body: CreateUserBody, response: { 201: UserResponse, ...errors } },
    handler: async (request, reply) => {
      const user = await users.create(organizationOf(request), request.body)
      return reply.code(201).send(presentUser(user))
    },
  })

  app.route({
    ...R.getUser.route,
    schema: { ...R.getUser.doc, params: UserParams, response: { 200: UserResponse, ...errors } },
    handler: async (request) => presentUser(await users.get(organizationOf(request), request.params.userId)),
  })

  app.route({
    ...R.updateUser.route,
    schema: { ...R.updateUser.doc, params: UserParams, body: UpdateUserBody, response: { 200: UserResponse, ...errors } },
    handler: async (request) => presentUser(await users.update(organizationOf(request), request.params.userId, request.body)),
  })

  app.route({
    ...R.deleteUser.route,
    schema: { ...R.deleteUser.doc, params: UserParams, response: { 204: NoContent, ...errors } },
    handler: async (request, reply) => {
      await users.delete(organizationOf(request), request.params.userId)
      return reply.code(204).send(null)
    },
  })

  app.route({
    ...R.listChargingKeys.route,
    schema: { ...R.listChargingKeys.doc, params: UserParams, response: { 200: ChargingKeyList, ...errors } },
    handler: async (request) => {
      const keys = await chargingKeys.list(organizationOf(request), request.params.userId)
      return { keys: keys.map(presentKey) }
    },
  })

  app.route({
    ...R.createRfidKey.route,
    schema: {
      ...R.createRfidKey.doc,
      params: UserParams,
      body: CreateRfidKeyBody,
      response: { 201: ChargingKeyResponse, ...errors },
    },
    handler: async (request, reply) => {
      const key = await chargingKeys.createRfid(organizationOf(request), request.params.userId, request.body)
      return reply.code(201).send(presentKey(key))
    },
  })

  app.route({
    ...R.createPlugAndChargeKey.route,
    schema: {
      ...R.createPlugAndChargeKey.doc,
      params: UserParams,
      body: CreatePlugAndChargeKeyBody,
      response: { 201: PlugAndChargeKeyCreated, ...errors },
    },
    handler: async (request, reply) => {
      const { pcid, contractId, validTo, certificate } = request.body
      const input = { pcid, contractId, validTo: validTo === undefined ? undefined : new Date(validTo) }
      const org = organizationOf(request)
      const provisioning = certificate && provisioningSource(certificate)
      if (provisioning?.source === 'pcp') {
        const created = await ecosystem().createKeyFromPcp(org, request.params.userId, input)
        return reply.code(201).send({
          contractId: created.key.contractId,
          pcid: created.key.pcid!,
          keyId: created.key.keyId,
          validTo: created.key.validTo?.toISOString() ?? null,
          ...(created.contract && {
            contractCertificate: presentContractState(created.contract.certificate),
            contractData: created.contract.contractData,
          }),
          publication: presentPublication(created.publication),
        })
      }
      if (provisioning) {
        const { key, contract } = await contracts.createKeyWithContract(org, request.params.userId, { ...input, certificate: provisioning })
        return reply.code(201).send({
          contractId: key.contractId,
          pcid: key.pcid!,
          keyId: key.keyId,
          validTo: key.validTo?.toISOString() ?? null,
          contractCertificate: presentContractState(contract.certificate),
          contractData: contract.contractData,
        })
      }
      const { key } = await chargingKeys.createPlugAndCharge(org, request.params.userId, input)
      return reply.code(201).send({ contractId: key.contractId, pcid: key.pcid!, keyId: key.keyId })
    },
  })

  app.route({
    ...R.getContractCertificate.route,
    schema: { ...R.getContractCertificate.doc, params: KeyParams, response: { 200: ContractCertificateResponse, ...errors } },
    handler: async (request) => {
      const { userId, keyIdOrContractId } = request.params
      const { certificate, contractData } = await contracts.current(organizationOf(request), userId, keyIdOrContractId)
      return { ...presentContractCertificate(certificate, contractData), ...(await publicationOfKey(certificate.keyId)) }
    },
  })

  app.route({
    ...R.issueContractCertificate.route,
    schema: {
      ...R.issueContractCertificate.doc,
      params: KeyParams,
      body: ProvisioningCertificateInput,
      response: { 201: ContractCertificateResponse, ...errors },
    },
    handler: async (request, reply) => {
      const { userId, keyIdOrContractId } = request.params
      const org = organizationOf(request)
      const provisioning = provisioningSource(request.body)
      if (provisioning.source === 'pcp') {
        throw invalid(
          'validation_error',
          'source: "pcp" for an existing key is POST .../contract-certificate/publication (the contract then goes through Hubject\'s ecosystem)',
          { field: 'source' },
        )
      }
      const issued = await contracts.issue(org, userId, keyIdOrContractId, provisioning)
      return reply.code(201).send(presentContractCertificate(issued.certificate, issued.contractData))
    },
  })

  app.route({
    ...R.renewContractCertificate.route,
    schema: {
      ...R.renewContractCertificate.doc,
      params: KeyParams,
      body: RenewContractBody,
      response: { 201: ContractCertificateResponse, ...errors },
    },
    handler: async (request, reply) => {
      const { userId, keyIdOrContractId } = request.params
      const given = request.body.certificate && provisioningSource(request.body.certificate)
      const provisioning =
        given?.source === 'pcp'
          ? await ecosystem().publication.fetchProvisioning(
              (await contracts.current(organizationOf(request), userId, keyIdOrContractId)).certificate.pcid,
            )
          : given
      const issued = await contracts.renew(organizationOf(request), userId, keyIdOrContractId, {
        peer: request.body.peer ?? 'contract',
        provisioning,
      })
      return reply.code(201).send({
        ...presentContractCertificate(issued.certificate, issued.contractData),
        ...(await publicationOfKey(issued.certificate.keyId)),
      })
    },
  })

  app.route({
    ...R.revokeContractCertificate.route,
    schema: {
      ...R.revokeContractCertificate.doc,
      params: KeyParams,
      body: RevokeContractBody,
      response: { 200: ContractCertificateResponse, ...errors },
    },
    handler: async (request) => {
      const { userId, keyIdOrContractId } = request.params
      const org = organizationOf(request)
      await contracts.revoke(org, userId, keyIdOrContractId, request.body.reason)
      const { certificate, contractData } = await contracts.current(org, userId, keyIdOrContractId)
      return { ...presentContractCertificate(certificate, contractData), ...(await publicationOfKey(certificate.keyId)) }
    },
  })

  app.route({
    ...R.getContractPublication.route,
    schema: { ...R.getContractPublication.doc, params: KeyParams, response: { 200: PublicationResponse, ...errors } },
    handler: async (request) => {
      const { userId, keyIdOrContractId } = request.params
      return presentPublication(await ecosystem().publicationOf(organizationOf(request), userId, keyIdOrContractId))
    },
  })

  app.route({
    ...R.publishContract.route,
    schema: { ...R.publishContract.doc, params: KeyParams, response: { 202: PublicationResponse, ...errors } },
    handler: async (request, reply) => {
      const { userId, keyIdOrContractId } = request.params
      return reply.code(202).send(presentPublication(await ecosystem().publish(organizationOf(request), userId, keyIdOrContractId)))
    },
  })

  app.route({
    ...R.lookupContractInPool.route,
    schema: { ...R.lookupContractInPool.doc, params: KeyParams, response: { 200: PoolLookupResponse, ...errors } },
    handler: async (request) => {
      const { userId, keyIdOrContractId } = request.params
      return ecosystem().lookup(organizationOf(request), userId, keyIdOrContractId)
    },
  })

  app.route({
    ...R.retryContractPublication.route,
    schema: { ...R.retryContractPublication.doc, params: KeyParams, response: { 202: PublicationResponse, ...errors } },
    handler: async (request, reply) => {
      const { userId, keyIdOrContractId } = request.params
      return reply.code(202).send(presentPublication(await ecosystem().retry(organizationOf(request), userId, keyIdOrContractId)))
    },
  })

  app.route({
    ...R.getChargingKey.route,
    schema: { ...R.getChargingKey.doc, params: KeyParams, response: { 200: ChargingKeyResponse, ...errors } },
    handler: async (request) => {
      const { userId, keyIdOrContractId } = request.params
      return presentKey(await chargingKeys.get(organizationOf(request), userId, keyIdOrContractId))
    },
  })

  app.route({
    ...R.updateChargingKey.route,
    schema: {
      ...R.updateChargingKey.doc,
      params: KeyParams,
      body: UpdateKeyBody,
      response: { 200: ChargingKeyResponse, ...errors },
    },
    handler: async (request) => {
      const { userId, keyIdOrContractId } = request.params
      const { enabled, name, validTo } = request.body
      const key = await chargingKeys.update(organizationOf(request), userId, keyIdOrContractId, {
        enabled,
        name,
        validTo: validTo === undefined ? undefined : validTo === null ? null : new Date(validTo),
      })
      return presentKey(key)
    },
  })

  app.route({
    ...R.deleteChargingKey.route,
    schema: { ...R.deleteChargingKey.doc, params: KeyParams, response: { 204: NoContent, ...errors } },
    handler: async (request, reply) => {
      const { userId, keyIdOrContractId } = request.params
      await chargingKeys.delete(organizationOf(request), userId, keyIdOrContractId)
      return reply.code(204).send(null)
    },
  })

  app.route({
    ...R.listSessions.route,
    schema: { ...R.listSessions.doc, params: UserParams, querystring: SessionListQuery, response: { 200: SessionList, ...errors } },
    handler: async (request) => {
      const org = organizationOf(request)
      const { userId } = request.params
      const { keyId } = request.query
      // A key filter names the key as every key path does (key ID or contract ID); another user's key is not found.
      const key = keyId === undefined ? undefined : await chargingKeys.get(org, userId, keyId)
      const page = await sessions.listForUser(org, userId, {
        keyId: key?.id,
        ...sessionWindow(request.query),
      })
      return sessionPage(page)
    },
  })

  app.route({
    ...R.getSession.route,
    schema: { ...R.getSession.doc, params: SessionParams, response: { 200: SessionDetailResponse, ...errors } },
    handler: async (request) => {
      const { userId, sessionId } = request.params
      return presentSessionDetail(await sessions.getForUser(organizationOf(request), userId, sessionId))
    },
  })

  app.route({
    ...R.listOrganizationSessions.route,
    schema: {
      ...R.listOrganizationSessions.doc,
      querystring: OrganizationSessionListQuery,
      response: { 200: SessionList, ...errors },
    },
    handler: async (request) => {
      const org = organizationOf(request)
      const { userId, keyId } = request.query
      // A key is named within its user (key IDs are a user's): a key filter without a user is found across the organization.
      const key =
        keyId === undefined
          ? undefined
          : userId !== undefined
            ? await chargingKeys.get(org, userId, keyId)
            : await chargingKeys.findInOrganization(org, keyId)
      const page = await sessions.listForOrganization(org, {
        userExternalId: userId,
        keyId: key?.id,
        ...sessionWindow(request.query),
      })
      return sessionPage(page)
    },
  })

  app.route({
    ...R.getOrganizationSession.route,
    schema: { ...R.getOrganizationSession.doc, params: OrganizationSessionParams, response: { 200: SessionDetailResponse, ...errors } },
    handler: async (request) => presentSessionDetail(await sessions.getForOrganization(organizationOf(request), request.params.sessionId)),
  })
  await app.register(webhookRoutes, { platform })

  const endpoints = platform.authorizationEndpoints

  app.route({
    ...R.putAuthorizationEndpoint.route,
    schema: {
      ...R.putAuthorizationEndpoint.doc,
      body: AuthorizationEndpointBody,
      response: { 200: AuthorizationEndpointSet, ...errors },
    },
    handler: async (request) => {
      const { endpoint, secret } = await endpoints.put(organizationOf(request).id, request.body)
      // The secret only when this call made it: a change of URL or timeout keeps the partner's verification working.
      return { ...presentAuthorizationEndpoint(endpoint), ...(secret && { secret }) }
    },
  })

  app.route({
    ...R.getAuthorizationEndpoint.route,
    schema: { ...R.getAuthorizationEndpoint.doc, response: { 200: AuthorizationEndpointResponse, ...errors } },
    handler: async (request) => {
      const endpoint = await endpoints.get(organizationOf(request).id)
      return { ...presentAuthorizationEndpoint(endpoint), status: platform.partnerDecisions.status(endpoint) }
    },
  })

  app.route({
    ...R.deleteAuthorizationEndpoint.route,
    schema: { ...R.deleteAuthorizationEndpoint.doc, response: { 204: NoContent, ...errors } },
    handler: async (request, reply) => {
      await endpoints.delete(organizationOf(request).id)
      return reply.code(204).send(null)
    },
  })

  app.route({
    ...R.rotateAuthorizationEndpointSecret.route,
    schema: { ...R.rotateAuthorizationEndpointSecret.doc, response: { 200: AuthorizationEndpointSet, ...errors } },
    handler: async (request) => {
      const { endpoint, secret } = await endpoints.rotateSecret(organizationOf(request).id)
      return { ...presentAuthorizationEndpoint(endpoint), secret }
    },
  })

  apiKeyRoutes(
    app,
    apiKeys,
    { list: R.listApiKeys, create: R.createApiKey, revoke: R.revokeApiKey },
    {
      params: Type.Object({}),
      organizationId: (request) => organizationOf(request).id,
    },
  )
}
