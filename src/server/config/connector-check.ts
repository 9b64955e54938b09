/**
 * The connectors' checks of each resource's config, as problems located in the config file: a
 * connector only knows the `config` map it is handed, so its message is mapped back to the key it
 * names under `resources.<name>.config` (or to that map when it names none), and the loader turns
 * the path into a file and line like any schema problem.
 */
import type { LatchConfig } from '../../shared/config.js';
import type { Connector } from '../connectors/types.js';
import type { ConfigCheck } from './load.js';

/** Every problem the connectors find in `config`; empty when all are satisfied. */
export function connectorProblems(config: LatchConfig, connectors: ReadonlyMap<string, Connector>): ConfigCheck[] {
  const problems: ConfigCheck[] = [];
  for (const [name, resource] of Object.entries(config.resources)) {
    const connector = connectors.get(resource.connector);
    if (!connector) {
      problems.push({ path: ['resources', name, 'connector'], message: `unknown connector "${resource.connector}"; this server has: ${[...connectors.keys()].sort().join(', ')}` });
      continue;
    }
    try {
      connector.checkConfig(resource.config, name, Object.keys(resource.roles));
    } catch (err) {
      problems.push(locateConnectorMessage(name, resource.config, err instanceof Error ? err.message : String(err)));
    }
  }
  return problems;
}

// A dotted key path as connectors write them: `roles.admin`, `forwarding.agent`.
const KEY = String.raw`[A-Za-z_][\w-]*(?:\.[\w-]+)*`;
/** Connectors start with "config.KEY: ", "webhook config KEY: " or "KEY: " when they name the key. */
const LEADING_KEY = new RegExp(`^(?:webhook config |config\\.)?(${KEY}): `);
const ANY_KEY = new RegExp(`"(${KEY})"|(${KEY})`, 'g');

/**
 * The key of `config` a connector's message is about: the one it leads with, else the first word
 * of the message that is a key of `config` (e.g. "found hots" for a typo of `host`), else the
 * config map itself.
 */
export function locateConnectorMessage(resource: string, config: Record<string, unknown>, raw: string): ConfigCheck {
  const base = ['resources', resource, 'config'];
  // The path already names the resource.
  let message = raw.startsWith(`resource ${resource}: `) ? raw.slice(`resource ${resource}: `.length) : raw;
  const lead = LEADING_KEY.exec(message);
  if (lead) {
    // The connector named the key. When it is there, say it once (in the path); when it is
    // missing, point at the deepest part that is there and keep the name in the message.
    const found = existing(config, lead[1]!);
    if (found.join('.') === lead[1]) message = message.slice(lead[0].length);
    return { path: [...base, ...found], message };
  }
  for (const m of message.matchAll(ANY_KEY)) {
    const found = existing(config, (m[1] ?? m[2])!);
    if (found.length > 0) return { path: [...base, ...found], message };
  }
  return { path: base, message };
}

/** The longest prefix of a dotted key path that exists in `config`. */
function existing(config: Record<string, unknown>, dotted: string): string[] {
  const found: string[] = [];
  let at: unknown = config;
  for (const segment of dotted.split('.')) {
    if (typeof at !== 'object' || at === null || !Object.hasOwn(at, segment)) break;
    found.push(segment);
    at = (at as Record<string, unknown>)[segment];
  }
  return found;
}
