export { type ErrorOut, EXIT, exitCodeFor, fromSystemError, reportError, toA2VError } from "./cli.js";
export { A2VError, type A2VErrorDetail, type A2VErrorOptions, isA2VError } from "./error.js";
export { printable } from "./printable.js";
