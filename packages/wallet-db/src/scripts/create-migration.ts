/**
 * Generates the next migration from the entity definitions against a scratch database:
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres pnpm --filter @wallets/db migration:create
 * The file lands in src/migrations; add it to migrations/index.ts after reviewing it.
 */
import { Migrator } from '@mikro-orm/migrations';
import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { ormConfig } from '../orm.js';

const base = process.env.DATABASE_URL;
if (!base) throw new Error('DATABASE_URL is required');
const scratch = `wallets_migration_${Date.now()}`;
const admin = new pg.Client({ connectionString: base });
await admin.connect();
await admin.query(`CREATE DATABASE ${scratch}`);
try {
  const url = new URL(base);
  url.pathname = `/${scratch}`;
  const config = ormConfig({ databaseUrl: url.toString() });
  const orm = await MikroORM.init({
    ...config,
    extensions: [Migrator],
    migrations: {
      ...config.migrations,
      path: new URL('../migrations', import.meta.url).pathname,
      emit: 'ts',
      fileName: (ts, name) => `migration-${ts}${name ? `-${name}` : ''}`.replace(/[^A-Za-z0-9-]/g, '_'),
    },
  });
  await orm.getMigrator().up();
  const name = process.argv[3]?.replace(/[^A-Za-z0-9]/g, '_');
  const result = await orm.getMigrator().createMigration(undefined, false, process.argv[2] === '--initial', name);
  console.log(result.fileName || 'no changes');
  await orm.close(true);
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${scratch}`);
  await admin.end();
}
