/**
 * The jupyter-realtime browser client: no Jupyter imports, usable from any page.
 * See `docs/browser-client.md`.
 */
export { RealtimeClient } from './client.js';
export type { ChannelEvent, ChannelHandler, ClientOptions, SubscribeOptions } from './client.js';
export type { ConnectionState } from './connection.js';
export { RealtimeError } from './errors.js';
export { TRANSPORTS, type TransportName } from './ladder.js';
export type * from './protocol.js';
export {
  connectShared,
  SharedClient,
  type RealtimeClientLike,
  type SharedOptions
} from './sharing.js';
