/** Release of both executables; ipamd and aws-cni of the same release always interoperate. */
export const VERSION = "0.1.0";

/**
 * Version of the JSON-RPC protocol between aws-cni and ipamd. Bumped only on incompatible
 * changes, so a plugin and a daemon from different releases keep working while it matches.
 */
export const PROTOCOL_VERSION = 1;
