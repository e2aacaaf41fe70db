/**
 * MikroORM configuration and lifecycle. One ORM per process; one EntityManager fork per request.
 * Migrations are a static list, so tsx and vitest load the same files.
 */
import { Migrator } from '@mikro-orm/migrations';
import { MikroORM, type Options, PostgreSqlDriver } from '@mikro-orm/postgresql';
import { ALL_ENTITIES } from './entities/index.js';
import { migrationsList } from './migrations/index.js';

export type Orm = MikroORM;

export interface OrmOptions {
  databaseUrl: string;
  poolMax?: number;
  debug?: boolean;
}

export function ormConfig({ databaseUrl, poolMax = 10, debug = false }: OrmOptions): Options {
  return {
    driver: PostgreSqlDriver,
    clientUrl: databaseUrl,
    entities: ALL_ENTITIES,
    discovery: { disableDynamicFileAccess: true, requireEntitiesArray: true },
    extensions: [Migrator],
    migrations: { migrationsList, transactional: true, allOrNothing: true, snapshot: false, silent: true },
    pool: { min: 0, max: poolMax },
    debug,
    forceUtcTimezone: true,
    implicitTransactions: false,
    allowGlobalContext: false,
  };
}

export async function openOrm(options: OrmOptions): Promise<Orm> {
  return MikroORM.init(ormConfig(options) as never);
}

export async function migrate(orm: Orm): Promise<void> {
  await orm.getMigrator().up();
}
