export { provideTestDatabase as default } from '@wallets/db/testing';
