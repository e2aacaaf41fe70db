import { startTestDatabase } from '@wallets/db/testing';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    serverUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const db = await startTestDatabase();
  project.provide('databaseUrl', db.url);
  project.provide('serverUrl', db.serverUrl);
  return () => db.teardown();
}
