/**
 * Loads the YAML configuration (groups, resources, policies) and validates it with the shared
 * schema. Every problem is reported with the file, line and column of the YAML node it concerns,
 * because a config error is read by a person with the file open in an editor.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, isAlias, isMap, isNode, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { describeIssue as describeZodIssue } from '../../shared/zod-messages.js';
import { configSchema, type LatchConfig } from '../../shared/config.js';

export interface ConfigProblem {
  /** Dotted key path, e.g. `policies.0.maxDuration`; empty for the file as a whole. */
  path: string;
  line: number | null;
  column: number | null;
  message: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(problems.map((p) => formatProblem(file, p)).join('\n'));
  }
}

/** A problem found beyond the schema (a connector's check of a resource's config): its key path and what is wrong. */
export interface ConfigCheck {
  path: readonly (string | number)[];
  message: string;
}

/** Checks a schema-valid config further (the server's connectors); returns every problem, or none. */
export type ConfigChecker = (config: LatchConfig) => ConfigCheck[];

/** `FILE:LINE:COL: path: message`, the form editors and terminals turn into links. */
function formatProblem(file: string, p: ConfigProblem): string {
  const where = p.line === null ? file : `${file}:${p.line}:${p.column ?? 1}`;
  return `${where}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

export interface ParseOptions {
  /**
   * What an empty document (nothing but whitespace, comments or `---`) means: an empty config
   * (`allow`, the default, as on a first start), or a mistake (`refuse`, on reload: a file caught
   * mid-save or truncated must not wipe every policy of a running server). `{}` is always a config.
   */
  empty?: 'allow' | 'refuse';
}

/** Why an empty document is refused on reload, and what to write instead when clearing is meant. */
export const EMPTY_ON_RELOAD =
  'the file is empty (nothing but whitespace or comments), so it was not loaded: that would remove every group, resource and policy at once; to clear the configuration on purpose, write {} in the file and reload again';

/**
 * Parses and validates configuration text, then runs `check` (the connectors' checks) on it, so
 * its problems get a line too. An empty file (or only comments) is an empty config, unless
 * `opts.empty` is `refuse`.
 */
export function parseConfig(text: string, file = '<config>', check?: ConfigChecker, opts: ParseOptions = {}): LatchConfig {
  const lineCounter = new LineCounter();
  // prettyErrors would append a multi-line excerpt to each message; we want one line per problem.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const position = (offset: number | undefined) => {
    if (offset === undefined) return { line: null, column: null };
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };

  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: '', ...position(e.pos[0]), message: e.message })),
    );
  }

  const empty = doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null);
  if (empty && opts.empty === 'refuse') throw new ConfigError(file, [{ path: '', line: null, column: null, message: EMPTY_ON_RELOAD }]);

  let data: unknown;
  try {
    data = doc.toJS() ?? {};
  } catch (err) {
    // toJS refuses documents that expand aliases excessively (a "billion laughs" file).
    throw new ConfigError(file, [{ path: '', line: null, column: null, message: err instanceof Error ? err.message : String(err) }]);
  }

  const result = configSchema.safeParse(data);
  if (result.success) {
    const checks = check?.(result.data) ?? [];
    if (checks.length === 0) return result.data;
    throw new ConfigError(file, checks.map((c) => ({ path: c.path.join('.'), ...position(locate(doc, c.path, true).node?.range?.[0]), message: c.message })));
  }
  const problems = result.error.issues.flatMap((issue) => describeIssue(doc, issue));
  throw new ConfigError(
    file,
    problems.map(({ path, node, message }) => ({ path: path.join('.'), ...position(node?.range?.[0]), message })),
  );
}

/** A config given as an object (tests, embedding): `check` runs as on a file, without lines to report. */
export function checkGivenConfig(config: LatchConfig, check: ConfigChecker, file = '<config>'): LatchConfig {
  const checks = check(config);
  if (checks.length > 0) throw new ConfigError(file, checks.map((c) => ({ path: c.path.join('.'), line: null, column: null, message: c.message })));
  return config;
}

/** Reads and validates a config file (and runs `check` on it; `opts` as in parseConfig). */
export function loadConfigFile(file: string, check?: ConfigChecker, opts?: ParseOptions): LatchConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', line: null, column: null, message: readFailure(err) }]);
  }
  return parseConfig(text, file, check, opts);
}

function readFailure(err: unknown): string {
  const code = err instanceof Error && 'code' in err ? err.code : undefined;
  switch (code) {
    case 'ENOENT':
      return 'the file does not exist; create it (examples/demo.yaml is an annotated example) or point Latch at the right file';
    case 'EISDIR':
      return 'this is a directory; point Latch at the YAML file inside it';
    case 'EACCES':
    case 'EPERM':
      return 'the file cannot be read (permission denied); give the server user read access';
    default:
      return `the file cannot be read: ${err instanceof Error ? err.message : String(err)}`;
  }
}

type Segment = PropertyKey;
interface Located {
  path: Segment[];
  node: Node | undefined;
  message: string;
}

/** Turns one zod issue into problems located in the YAML document. */
function describeIssue(doc: Document, issue: z.core.$ZodIssue): Located[] {
  const path = [...issue.path];
  switch (issue.code) {
    case 'unrecognized_keys':
      // The issue sits on the object; point at each offending key, which is what needs editing.
      return issue.keys.map((key) => ({
        path: [...path, key],
        node: locate(doc, [...path, key], true).node,
        message: `unknown key "${key}"`,
      }));
    case 'invalid_key': {
      const key = String(path[path.length - 1]);
      const why = issue.issues.map((i) => i.message).join('; ');
      return [{ path, node: locate(doc, path, true).node, message: `"${key}" is not a valid name: ${why}` }];
    }
    default: {
      const { node, found } = locate(doc, path, false);
      // zod says "expected string, received undefined" for a missing key; say what it means.
      const missing = issue.code === 'invalid_type' && !found;
      return [{ path, node, message: missing ? 'this key is required but missing' : issue.code === 'custom' ? issue.message : describeZodIssue(issue) }];
    }
  }
}

/**
 * Walks the YAML nodes along a zod path. When the path leaves the document (a missing key), the
 * deepest node that exists is returned with `found: false`, so the problem still gets a line.
 * With `atKey`, the last step returns the map key rather than its value.
 */
function locate(doc: Document, path: readonly Segment[], atKey: boolean): { node: Node | undefined; found: boolean } {
  let current: unknown = doc.contents;
  let deepest = isNode(current) ? current : undefined;
  for (const [i, segment] of path.entries()) {
    if (isAlias(current)) current = current.resolve(doc);
    let next: unknown;
    if (isMap(current)) {
      // Compare as text: zod paths carry record keys as strings, YAML may hold `123` as a number.
      const pair = current.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(segment));
      const wantKey = atKey && i === path.length - 1;
      // A key without a value (`{ a }` in flow style) has no value node; its key is the best place.
      next = pair && (wantKey || !isNode(pair.value) ? pair.key : pair.value);
    } else if (isSeq(current) && typeof segment === 'number') {
      next = current.items[segment];
    }
    if (!isNode(next)) return { node: deepest, found: false };
    current = deepest = next;
  }
  return { node: deepest, found: true };
}

export type ReloadResult = { ok: true } | { ok: false; error: ConfigError };
export type ConfigListener = (config: LatchConfig) => void;

/**
 * The running server's configuration. A reload swaps it only when the new file is valid, the
 * checks (the connectors') included, and not empty, so a typo or a truncated file saved mid-edit
 * never takes policies away from a running server.
 */
export class ConfigHolder {
  #config: LatchConfig;
  readonly #listeners = new Set<ConfigListener>();

  constructor(
    readonly file: string | null,
    initial: LatchConfig,
    private readonly check?: ConfigChecker,
  ) {
    this.#config = initial;
  }

  get current(): LatchConfig {
    return this.#config;
  }

  /** Re-reads and checks the file without switching to it (see `use`); an empty file is refused (see ParseOptions). */
  read(): { ok: true; config: LatchConfig } | { ok: false; error: ConfigError } {
    if (this.file === null) {
      const message = 'the server was started without a config file, so there is nothing to reload';
      return { ok: false, error: new ConfigError('<config>', [{ path: '', line: null, column: null, message }]) };
    }
    try {
      return { ok: true, config: loadConfigFile(this.file, this.check, { empty: 'refuse' }) };
    } catch (err) {
      if (err instanceof ConfigError) return { ok: false, error: err };
      throw err;
    }
  }

  /** Re-reads the file and, when it is valid, switches to it (see `use`). */
  reload(): ReloadResult {
    const next = this.read();
    if (!next.ok) return next;
    this.use(next.config);
    return { ok: true };
  }

  /**
   * Switches to `next` (from `read`) and tells every listener; a listener that throws does not
   * stop the others, and the failures are rethrown together afterwards.
   */
  use(next: LatchConfig): void {
    this.#config = next;
    const failures: unknown[] = [];
    // A copy, so a listener may unsubscribe while being called.
    for (const listener of [...this.#listeners]) {
      try {
        listener(next);
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length > 0) throw new AggregateError(failures, 'a config change listener failed');
  }

  /** Calls `listener` after each successful reload; returns the function that unsubscribes. */
  onChange(listener: ConfigListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }
}
