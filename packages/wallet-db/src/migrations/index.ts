import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261125172404_initial } from './migration-20261125172404-initial.js';

export const migrationsList: MigrationObject[] = [{ name: 'migration-20261125172404-initial', class: Migration20261125172404_initial }];
