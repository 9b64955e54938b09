/**
 * The connectors' checks of each resource's config, as problems located in the config file: a
 * connector only knows the `config` map it is handed, so it names the key (a ConnectorConfigError)
 * and the loader turns `resources.<name>.config.<key>` into a file and line like any schema
 * problem. A plain Error lands on the `config` map itself.
 */
import type { LatchConfig } from '../../shared/config.js';
import { ConnectorConfigError, type Connector } from '../connectors/types.js';
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
      problems.push(locateConnectorProblem(name, resource.config, err));
    }
  }
  return problems;
}

/**
 * Where in the file a connector's complaint goes: on the key it names when that key is there;
 * on the deepest part of it that is there (naming the key in the message) when it is missing.
 */
export function locateConnectorProblem(resource: string, config: Record<string, unknown>, err: unknown): ConfigCheck {
  const base = ['resources', resource, 'config'];
  if (err instanceof ConnectorConfigError) {
    if (err.key === null) return { path: base, message: err.detail };
    const found = existing(config, err.key);
    return { path: [...base, ...found], message: found.join('.') === err.key ? err.detail : `config.${err.key}: ${err.detail}` };
  }
  const raw = err instanceof Error ? err.message : String(err);
  // The path already names the resource.
  return { path: base, message: raw.startsWith(`resource ${resource}: `) ? raw.slice(`resource ${resource}: `.length) : raw };
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
