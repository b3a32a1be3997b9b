/** Firmware generation 1.3.x (PROTOCOL-1.3.md): codecs, envelope and upload JSON. Pure code. */
export * from './aggregation.js';
export { formatArduinoJsonFloat } from './arduino-json.js';
export * from './bitpack.js';
export * from './compress.js';
export * from './decode-packet.js';
export * from './dictionary-d0.js';
export * from './envelope.js';
export * from './semantic.js';
export * from './temporal.js';
export * from './upload-json.js';
export { REGISTER_IDS } from './values.js';
