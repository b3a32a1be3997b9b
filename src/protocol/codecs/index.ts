/** Public codec API: one module per wire format, the device emulator and the server's dispatcher. */
export * from './bitpack.js';
export * from './decode-packet.js';
export * from './device-compressor.js';
export * from './dictionary.js';
export * from './lossless-e1.js';
export * from './raw.js';
export * from './semantic.js';
export * from './temporal.js';
export * from './types.js';
