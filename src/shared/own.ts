/**
 * Lookups by a name that came from outside (a config file, a request body, a CLI flag, a file on
 * disk) in a plain object. `obj[name]` and `name in obj` also find what every object inherits
 * from Object.prototype, so `constructor` would be a resource, `toString` a role and
 * `hasOwnProperty` a group; these see only the object's own keys.
 */

/** The value `record` holds under its own key `key`, or undefined (never an inherited member). */
export function own<V>(record: Readonly<Partial<Record<string, V>>>, key: string): V | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Whether `record` has `key` as its own key (what `key in record` should have meant). */
export function hasOwn(record: object, key: string): boolean {
  return Object.hasOwn(record, key);
}
