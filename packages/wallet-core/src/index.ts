export * from './conversion.js';
export * from './currency.js';
export * from './decimal.js';
export * from './errors.js';
export * from './lots.js';
export * from './rounding.js';
export * from './top-up-limits.js';
export * from './wallet-code.js';
