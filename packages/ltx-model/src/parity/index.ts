/**
 * `@a2v/ltx-model/parity`: verification of the model components against the official implementation's golden
 * tensors (video VAE, audio features and VAE, text connectors), on either device.
 */
export { goldenParity, type ParityReport, VAE_AND_TEXT_PARITY_KINDS } from "./golden-parity.js";
export { type ErrorStats, errorStats, type ParityCheck } from "./parity-check.js";
