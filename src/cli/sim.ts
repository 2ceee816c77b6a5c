import type { Command } from 'commander'
import { config, stopOnSignal } from './shared.ts'

/** `sim`: simulated roaming peers for demos and tests. */
export function simCommands(program: Command) {
  // ----- simulators

  const sim = program.command('sim').description('simulated roaming peers for demos and tests')

  sim
    .command('cpo')
    .description('run a simulated OCPI CPO; with --versions-url and --token-a it registers with openpnc')
    .option('--port <port>', 'port of the CPO', '8090')
    .option('--host <host>', 'interface', '127.0.0.1')
    .option('--country <cc>', 'country code', 'NL')
    .option('--party <id>', 'party ID', 'SIM')
    .option('--ocpi-versions <list>', 'versions the CPO speaks', '2.2.1,2.3.0')
    .option('--versions-url <url>', "openpnc's OCPI versions URL")
    .option('--token-a <token>', 'Token A from `openpnc ocpi partner create`')
    .option('--authorize <uid>', 'after registering, ask openpnc to authorize this token and print the answer')
    .option(
      '--charge <uid>',
      'after registering, charge with this token: authorize, send the session (PUT, PATCHes, COMPLETED) and its CDR, and print what was sent',
    )
    .option('--kwh <kwh>', 'energy of the --charge session', '21.5')
    .action(async (o) => {
      const { CpoSimulator } = await import('../sim/cpo.ts')
      const cpo = new CpoSimulator({
        host: o.host,
        port: Number(o.port),
        countryCode: o.country,
        partyId: o.party,
        versions: String(o.ocpiVersions).split(',') as Array<'2.2.1' | '2.3.0'>,
      })
      const url = await cpo.start()
      process.stdout.write(`simulated CPO ${o.country}*${o.party} at ${url}/ocpi/cpo/versions\n`)
      if (o.versionsUrl && o.tokenA) {
        const version = await cpo.registerWith(o.versionsUrl, o.tokenA)
        process.stdout.write(`registered with openpnc on OCPI ${version}\n`)
        if (o.authorize) process.stdout.write(`${JSON.stringify(await cpo.authorize(o.authorize), null, 2)}\n`)
        if (o.charge) {
          const charged = await cpo.charge(o.charge, { kwh: Number(o.kwh) })
          if (!charged.sessionId) {
            process.stdout.write(`not charged: ${JSON.stringify(charged.authorization.data?.allowed ?? charged.authorization)}\n`)
          } else {
            for (const r of charged.sent) process.stdout.write(`${r.method} ${r.url} -> HTTP ${r.httpStatus}\n`)
            process.stdout.write(`session ${charged.sessionId} completed; its CDR is at ${charged.cdrLocation}\n`)
          }
        }
      } else {
        process.stdout.write(`give openpnc this Token A to register with us: ${cpo.issueTokenA()}\n`)
      }
      let seen = 0
      const report = setInterval(() => {
        for (const push of cpo.pushes.slice(seen)) {
          process.stdout.write(`${push.at.toISOString()} ${push.method} token ${push.uid} valid=${push.body.valid ?? '-'}\n`)
        }
        seen = cpo.pushes.length
      }, 500)
      stopOnSignal(async () => {
        clearInterval(report)
        await cpo.stop()
      })
    })

  sim
    .command('partner')
    .description("run a simulated partner's webhook receiver: verifies each call (Standard Webhooks) and prints each event as a JSON line")
    .option('--port <port>', 'port of the receiver', '8095')
    .option('--host <host>', 'interface', '127.0.0.1')
    .option('--path <path>', 'where webhooks are received', '/webhooks')
    .option('--secret <whsec>', "the endpoint's signing secret from POST /v1/webhooks (or OPENPNC_SIM_WEBHOOK_SECRET)")
    .option('--fail [status]', 'answer every webhook with this status (default 503), to watch retries')
    .action(async (o) => {
      const secret = o.secret ?? process.env.OPENPNC_SIM_WEBHOOK_SECRET
      if (!secret)
        throw new Error('--secret (or OPENPNC_SIM_WEBHOOK_SECRET) is required: the whsec_... secret the endpoint was created with')
      const { PartnerSimulator } = await import('../sim/partner.ts')
      const partner = new PartnerSimulator({
        host: o.host,
        port: Number(o.port),
        secret,
        webhookPath: o.path,
        failWith: o.fail === undefined ? undefined : o.fail === true ? 503 : Number(o.fail),
        onEvent: (event) => process.stdout.write(`${JSON.stringify(event)}\n`),
        onRefused: (reason) => process.stderr.write(`refused a call: ${reason}\n`),
      })
      const url = await partner.start()
      process.stderr.write(`simulated partner receiving webhooks at ${url}${o.path}\n`)
      stopOnSignal(() => partner.stop())
    })

  sim
    .command('locations')
    .description('generate an OCPI-shaped European charging network and load it: through the OCPI Receiver as a CPO, or in bulk')
    .requiredOption('--count <n>', 'number of locations')
    .option('--seed <n>', 'seed of the generator (same seed, same network)', '1')
    .option('--ocpi-version <v>', '2.2.1 or 2.3.0', '2.3.0')
    .option('--versions-url <url>', "openpnc's OCPI versions URL (with --token-a: load through the Receiver)")
    .option('--token-a <token>', 'Token A from `openpnc ocpi partner create`')
    .option('--bulk', 'write straight into the database (DATABASE_URL or the data directory; not while an embedded server runs)')
    .action(async (o) => {
      const { generateLocations } = await import('../sim/locations.ts')
      const count = Number(o.count)
      if (!Number.isInteger(count) || count < 1) throw new Error('--count must be a positive whole number')
      const version = o.ocpiVersion === '2.2.1' ? '2.2.1' : '2.3.0'
      if (o.bulk) {
        const { saveOcpiLocations } = await import('../protocols/ocpi/locations.ts')
        const c = config()
        const { openDatabase } = await import('../infra/db/database.ts')
        const { migrate } = await import('../infra/db/migrate.ts')
        const database = await openDatabase({ databaseUrl: c.databaseUrl, dataDir: c.dataDir })
        await migrate(database.db)
        for (let done = 0, chunk = 0; done < count; chunk++) {
          const n = Math.min(10_000, count - done)
          await saveOcpiLocations(database.db, null, generateLocations({ count: n, seed: Number(o.seed) * 1000 + chunk, version }))
          done += n
          process.stdout.write(`${done} locations stored\n`)
        }
        await database.close()
        return
      }
      if (!o.versionsUrl || !o.tokenA) throw new Error('give --versions-url and --token-a (load as a CPO), or --bulk')
      const { CpoSimulator } = await import('../sim/cpo.ts')
      const cpo = new CpoSimulator({ versions: [version] })
      await cpo.start()
      let registered = false
      try {
        await cpo.registerWith(o.versionsUrl, o.tokenA)
        registered = true
        const locations = generateLocations({
          count,
          seed: Number(o.seed),
          version,
          countryCode: cpo.party.country_code,
          partyId: cpo.party.party_id,
        })
        const sent = await cpo.putLocations(locations)
        process.stdout.write(`${sent} locations sent to openpnc as ${cpo.party.country_code}*${cpo.party.party_id} over OCPI ${version}\n`)
      } finally {
        // This CPO ends with the command: unregister, so openpnc keeps its locations but no
        // partner stays behind that every key change would then fail to reach.
        if (registered) await cpo.unregister()
        await cpo.stop()
      }
    })
  sim
    .command('hubject')
    .description(
      "run a simulated Hubject (OICP 2.3): it takes an offline EMP's authentication data and serves EVSE data and statuses; " +
        "with --emp-url it also drives openpnc's OICP endpoints through a whole session",
    )
    .option('--port <port>', 'port of the simulated Hubject', '8095')
    .option('--host <host>', 'interface', '127.0.0.1')
    .option('--tls-cert <file>', 'its server certificate (PEM); with --tls-key it speaks HTTPS')
    .option('--tls-key <file>', 'its server key (PEM)')
    .option('--client-ca <file>', "with HTTPS: require a client certificate signed by this CA (the EMP's)")
    .option('--evse-count <n>', 'locations of the generated European network served as EVSE data', '200')
    .option('--seed <n>', 'seed of the generated network', '1')
    .option('--emp-url <url>', "openpnc's OICP base URL, e.g. http://127.0.0.1:8081/oicp")
    .option('--evco-id <id>', 'with --emp-url: drive a Plug&Charge session for this EvcoID (EMAID)')
    .option('--rfid <uid>', 'with --emp-url: drive a session for this RFID card UID')
    .option('--operator <id>', 'the operator the simulated CPO is', 'DE*SIM')
    .option('--cert <file>', 'with --emp-url: the client certificate presented to openpnc (PEM)')
    .option('--key <file>', 'with --emp-url: its key (PEM)')
    .option('--ca <file>', "with --emp-url: the CA openpnc's server certificate must chain to (PEM)")
    .action(async (o) => {
      const { readFileSync } = await import('node:fs')
      const { HubjectSimulator } = await import('../sim/hubject/sim.ts')
      const { HubjectAuthData } = await import('../sim/hubject/auth-data.ts')
      const { HubjectEvseData } = await import('../sim/hubject/evse.ts')
      const read = (file: string | undefined) => (file ? readFileSync(file) : undefined)
      const count = Number(o.evseCount)
      if (!Number.isInteger(count) || count < 0) throw new Error('--evse-count must be a whole number')
      if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new Error('--tls-cert and --tls-key go together')
      const hubject = new HubjectSimulator({
        host: o.host,
        port: Number(o.port),
        ...(o.tlsCert && { tls: { cert: read(o.tlsCert)!, key: read(o.tlsKey)!, ...(o.clientCa && { clientCa: read(o.clientCa) }) } }),
      })
      const authData = hubject.add(new HubjectAuthData())
      hubject.add(new HubjectEvseData({ count, seed: Number(o.seed), geoFormats: 'mixed' }))
      authData.onPush = (push) => {
        const body = push.body as { ActionType?: string; ProviderAuthenticationData?: { AuthenticationDataRecord?: unknown[] } }
        const records = body?.ProviderAuthenticationData?.AuthenticationDataRecord?.length ?? 0
        process.stdout.write(
          `${new Date().toISOString()} push-request ${push.providerId} ${body?.ActionType ?? '?'} ${records} records -> HTTP ${push.httpStatus} ${push.code}\n`,
        )
      }
      const url = await hubject.start()
      process.stdout.write(`simulated Hubject at ${url} (give openpnc OPENPNC_OICP_URL=${url})\n`)
      if (o.empUrl) {
        const { HubjectDriver, driveSession } = await import('../sim/hubject/driver.ts')
        if (!o.evcoId && !o.rfid) throw new Error('with --emp-url, give --evco-id or --rfid: whose session to drive')
        const driver = new HubjectDriver({
          baseUrl: o.empUrl,
          operatorId: o.operator,
          tls: { cert: read(o.cert), key: read(o.key), ca: read(o.ca) },
        })
        try {
          const identification = o.evcoId ? { plugAndCharge: String(o.evcoId) } : { rfid: String(o.rfid) }
          const { sessionId, steps } = await driveSession(driver, { identification })
          process.stdout.write(`session ${sessionId}\n`)
          for (const step of steps) {
            process.stdout.write(
              `${step.operation}${step.detail ? ` (${step.detail})` : ''}: HTTP ${step.status} ${JSON.stringify(step.body)}\n`,
            )
          }
        } finally {
          await driver.close()
        }
      }
      stopOnSignal(() => hubject.stop())
    })

  const opcp = sim
    .command('opcp')
    .description(
      'run a simulated Hubject Plug&Charge ecosystem (OPCP 1.0.0): tokens, root and provisioning certificate pools, ' +
        'the CPS signing contract data, the contract pool and signed webhooks',
    )
    .option('--port <port>', 'port of the simulator', '8790')
    .option('--host <host>', 'interface', '127.0.0.1')
    .option('--client-id <id>', 'the OAuth2 client ID openpnc must present', 'openpnc-mo')
    .option('--client-secret <secret>', 'its client secret', 'sim-secret')
    .option('--audience <uri>', 'the audience openpnc must ask for', 'https://opcp.sim.openpnc.test')
    .option('--provider <list>', 'EMAID provider prefixes the MO may use (comma-separated, e.g. DE8PS)', 'DE8PS')
    .option('--vehicles <n>', 'vehicles to put in the provisioning certificate pool at start', '0')
    .option('--new-pcp-field-names', 'answer PCP calls with the new field names (provisioningCertificate, subCa1Certificate, ...)')
    .option('--oem-root-out <file>', "write the test OEM root (PEM) here, for openpnc's OPENPNC_PKI_TRUSTED_ROOTS")
    .action(async (o) => {
      const { writeFileSync } = await import('node:fs')
      const { OpcpSimulator } = await import('../sim/opcp/sim.ts')
      const vehicles = Number(o.vehicles)
      if (!Number.isInteger(vehicles) || vehicles < 0) throw new Error('--vehicles must be a whole number')
      const simulator = new OpcpSimulator({
        host: o.host,
        port: Number(o.port),
        clientId: o.clientId,
        clientSecret: o.clientSecret,
        audience: o.audience,
        providerIds: String(o.provider)
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean),
        newPcpFieldNames: Boolean(o.newPcpFieldNames),
      })
      const url = await simulator.start()
      const out = process.stdout
      out.write(`simulated Hubject Plug&Charge (OPCP 1.0.0) at ${url}\n`)
      out.write(`token URL ${simulator.tokenUrl}, client ${simulator.clientId} / ${simulator.clientSecret}\n`)
      if (o.oemRootOut) {
        writeFileSync(o.oemRootOut, simulator.oemRootPem())
        out.write(`test OEM root written to ${o.oemRootOut}\n`)
      }
      out.write('give openpnc:\n')
      out.write(`OPENPNC_OPCP_URL=${url}\n`)
      out.write(`OPENPNC_OPCP_TOKEN_URL=${simulator.tokenUrl}\n`)
      out.write(`OPENPNC_OPCP_CLIENT_ID=${simulator.clientId}\n`)
      out.write(`OPENPNC_OPCP_CLIENT_SECRET=${simulator.clientSecret}\n`)
      out.write(`OPENPNC_OPCP_AUDIENCE=${simulator.audience}\n`)
      if (o.oemRootOut) out.write(`OPENPNC_PKI_TRUSTED_ROOTS=${o.oemRootOut}\n`)
      for (let i = 0; i < vehicles; i++) out.write(`vehicle ${(await simulator.addVehicle()).pcid}\n`)
      stopOnSignal(() => simulator.stop())
    })

  opcp
    .command('add-vehicle [pcid]')
    .description('put a vehicle (a new provisioning certificate) in a running OPCP simulator and print its PCID')
    .requiredOption('--url <url>', 'the simulator, as `openpnc sim opcp` printed it')
    .action(async (pcid: string | undefined, o: { url: string }) => {
      const { request } = await import('undici')
      const answer = await request(`${o.url.replace(/\/+$/, '')}/sim/vehicles`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(pcid === undefined ? {} : { pcid }),
      })
      const body = (await answer.body.json()) as { pcid?: string; errorMessages?: string[] }
      if (answer.statusCode !== 201 || !body.pcid) {
        throw new Error(`the simulator answered HTTP ${answer.statusCode}: ${(body.errorMessages ?? []).join('; ')}`)
      }
      process.stdout.write(`${body.pcid}\n`)
    })
}
