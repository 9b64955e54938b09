/** The connectors this server offers, built once with what they need (STYLE.md §4). */
import type { Logger } from 'pino';
import type { ServerKeys } from '../keys.js';
import { passConnector } from './pass.js';
import { postgresConnector } from './postgres.js';
import { sshConnector } from './ssh.js';
import type { Connector } from './types.js';
import { webhookConnector } from './webhook.js';

export interface ConnectorDeps {
  dataDir: string;
  keys: ServerKeys;
  /** The server's public URL (issuer of passes). */
  issuer: string;
  log: Logger;
}

/** To add a connector: implement `Connector` (./types.ts) and add its factory here. */
export function builtInConnectors(d: ConnectorDeps): Connector[] {
  return [passConnector({ issuer: d.issuer, kid: d.keys.passKid, key: d.keys.passPrivate }), webhookConnector({ log: d.log }), sshConnector({ dataDir: d.dataDir, log: d.log }), postgresConnector({ log: d.log })];
}
