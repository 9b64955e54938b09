/** The client side of the approval server's API (DESIGN.md "Layout"): what src/desktop and electron/ import. */
export { LatchClient, DEFAULT_RETRY, DEFAULT_TIMEOUT_MS, REFRESH_MARGIN_MS } from './client.js';
export type { EnrollResult, ExtendGrantBody, GrantCredential, GrantListQuery, LatchClientOptions, RequestListQuery, RetryOptions } from './client.js';
export { credentialFrom, deviceCredentialSchema, MemoryCredentialSource } from './credentials.js';
export type { CredentialSource, DeviceCredential } from './credentials.js';
export { ApiError, LatchClientError, OfflineError, ProtocolError, SignedOutError } from './errors.js';
export { DEFAULT_CLOCK_JUMP_MS, DEFAULT_HEARTBEAT_MS, DEFAULT_OFFLINE_AFTER_MS, DEFAULT_STREAM_BACKOFF, EventStream } from './events.js';
export type { DisconnectReason, EventStreamOptions, ResyncReason, ResyncSignal, StreamState, StreamStatus } from './events.js';
export type { Backoff } from './backoff.js';
