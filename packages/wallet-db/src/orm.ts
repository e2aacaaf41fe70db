/**
 * MikroORM configuration and lifecycle. One ORM per process; one EntityManager fork per request.
 * Migrations are a static list, so tsx and vitest load the same files.
 */
import { Migrator } from '@mikro-orm/migrations';
import { MikroORM, type Options, PostgreSqlDriver } from '@mikro-orm/postgresql';
import pg from 'pg';
import { ALL_ENTITIES } from './entities/index.js';
import { migrationsList } from './migrations/index.js';

export type Orm = MikroORM;

/**
 * Every connection this process opens speaks UTF-8, whatever the database's default, so text
 * reaches PostgreSQL as the caller sent it: `pg.defaults` for the clients made with this `pg` (LISTEN
 * clients, the job queue's pool), the ORM's driver options for its pool (which the door uses).
 */
pg.defaults.client_encoding = 'UTF8';

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
    // knex brings its own copy of `pg`, which `pg.defaults` above does not reach.
    driverOptions: { connection: { client_encoding: 'UTF8' } },
    debug,
    forceUtcTimezone: true,
    implicitTransactions: false,
    allowGlobalContext: false,
  };
}

export async function openOrm(options: OrmOptions): Promise<Orm> {
  return MikroORM.init(ormConfig(options) as never);
}

/** Applies pending migrations; several processes starting at once take turns (advisory lock). */
export async function migrate(orm: Orm): Promise<void> {
  const lock = new pg.Client({ connectionString: orm.config.get('clientUrl') });
  await lock.connect();
  try {
    await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    await orm.getMigrator().up();
  } finally {
    await lock.end();
  }
}

const MIGRATION_LOCK_ID = 7_246_001;
