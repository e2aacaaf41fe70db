export { provideTestDatabase as default } from './src/testing/index.js';
