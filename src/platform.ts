import type { Config } from './config.ts'
import type { Db } from './db/database.ts'
import { IdempotencyStore } from './idempotency/idempotency.ts'
import { ChargingKeys } from './keys/charging-keys.ts'
import type { Logger } from './logger.ts'
import { ApiKeys } from './organizations/api-keys.ts'
import { Organizations } from './organizations/organizations.ts'
import { Users } from './users/users.ts'

/** The domain services, wired once; every protocol adapter works through these. */
export interface Platform {
  db: Db
  log: Logger
  config: Config
  organizations: Organizations
  apiKeys: ApiKeys
  users: Users
  chargingKeys: ChargingKeys
  idempotency: IdempotencyStore
}

export function createPlatform(db: Db, config: Config, log: Logger): Platform {
  const chargingKeys = new ChargingKeys({ db, log, platformEmaidPrefix: config.emaidPrefixParts })
  return {
    db,
    log,
    config,
    organizations: new Organizations(db),
    apiKeys: new ApiKeys(db, config.adminApiKey),
    users: new Users(db, chargingKeys),
    chargingKeys,
    idempotency: new IdempotencyStore(db),
  }
}
