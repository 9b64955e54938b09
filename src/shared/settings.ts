/**
 * The desktop app's settings: their schema, defaults, the version of the file format and the
 * migrations from older versions (DESIGN.md "Desktop agent"). Pure: src/desktop/settings.ts does
 * the file I/O; the renderer may import this to type and pre-check its intents.
 *
 * Settings hold no secrets: those live in the keychain (src/desktop/keychain.ts).
 */
import { z } from 'zod';

/** The version written into the settings file; bump it with a migration in SETTINGS_MIGRATIONS. */
export const SETTINGS_VERSION = 1;

const MINUTE_MS = 60_000;
export const EXPIRY_WARNING_LEAD_MIN_MS = MINUTE_MS;
export const EXPIRY_WARNING_LEAD_MAX_MS = 60 * MINUTE_MS;

/** An http(s) URL; a trailing slash is dropped so one server never gets two keychain accounts. */
export const serverUrlSchema = z
  .url({ protocol: /^https?$/, error: 'the server URL must be an http:// or https:// address' })
  .max(2_048)
  .transform((url) => url.replace(/\/+$/, ''));

const notificationPrefs = {
  /** Someone asks for access I can approve. */
  approvals: z.boolean(),
  /** My request was approved or denied. */
  decisions: z.boolean(),
  /** My access ends soon (see expiryWarningLeadMs). */
  expiring: z.boolean(),
  /** Nothing at all, whatever the three above say. */
  muted: z.boolean(),
};

const settingsShape = {
  /** null until the user names a server, and again if a reset lost it: the app then asks. */
  serverUrl: serverUrlSchema.nullable(),
  notifications: z.object(notificationPrefs),
  /** How long before a grant ends the "expiring soon" warning comes. */
  expiryWarningLeadMs: z
    .number()
    .int()
    .min(EXPIRY_WARNING_LEAD_MIN_MS, 'the expiry warning comes at least 1 minute before the end')
    .max(EXPIRY_WARNING_LEAD_MAX_MS, 'the expiry warning comes at most 1 hour before the end'),
  /** Preselected in the request form; null: the resource's default. */
  defaultDurationMs: z.number().int().positive('the default duration must be positive').nullable(),
  startAtLogin: z.boolean(),
  theme: z.enum(['system', 'light', 'dark']),
};

/** What the settings file holds (besides its version); unknown keys are dropped when read. */
export const settingsSchema = z.object(settingsShape);
export type Settings = z.output<typeof settingsSchema>;
export type NotificationPrefs = Settings['notifications'];
export type Theme = Settings['theme'];

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  serverUrl: null,
  notifications: Object.freeze({ approvals: true, decisions: true, expiring: true, muted: false }),
  expiryWarningLeadMs: 5 * MINUTE_MS,
  defaultDurationMs: null,
  startAtLogin: false,
  theme: 'system',
});

/**
 * One change, as a window sends it: only the keys it changes, `notifications` included, so two
 * windows changing different settings at once never overwrite each other (B39). Unknown keys are
 * refused, not dropped: they are a bug in the sender.
 */
export const settingsPatchSchema = z.strictObject({
  ...settingsShape,
  notifications: z.strictObject(notificationPrefs).partial(),
}).partial();
export type SettingsPatch = z.input<typeof settingsPatchSchema>;

/**
 * Each migration turns a file of the version before its key into one of its key's version.
 * Version 0 is the prototype's flat file, without a `version` key:
 * `{ apiUrl, muteNotifications, expiryWarningMinutes, openAtLogin, theme }`.
 */
export const SETTINGS_MIGRATIONS: Readonly<Record<number, (old: Record<string, unknown>) => Record<string, unknown>>> = {
  1: (old) => {
    const { apiUrl, muteNotifications, expiryWarningMinutes, openAtLogin, ...rest } = old;
    const next: Record<string, unknown> = { ...rest };
    if (apiUrl !== undefined) next.serverUrl = apiUrl;
    if (muteNotifications !== undefined) next.notifications = { ...DEFAULT_SETTINGS.notifications, muted: muteNotifications };
    if (expiryWarningMinutes !== undefined) next.expiryWarningLeadMs = typeof expiryWarningMinutes === 'number' ? expiryWarningMinutes * MINUTE_MS : expiryWarningMinutes;
    if (openAtLogin !== undefined) next.startAtLogin = openAtLogin;
    return next;
  },
};

export type SettingsFileProblem = 'not_an_object' | 'newer_version' | 'invalid';

export type SettingsFileRead =
  | { ok: true; settings: Settings; /** The version the file was written in, when older than SETTINGS_VERSION. */ migratedFrom: number | null }
  | { ok: false; problem: SettingsFileProblem; detail: string };

/**
 * Reads the parsed JSON of a settings file: migrates it to SETTINGS_VERSION, fills keys it lacks
 * from the defaults and validates it.
 */
export function readSettingsFile(raw: unknown, migrations = SETTINGS_MIGRATIONS, version = SETTINGS_VERSION): SettingsFileRead {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, problem: 'not_an_object', detail: 'the file does not hold a JSON object' };
  const { version: stored = 0, ...data } = raw as Record<string, unknown>;
  if (typeof stored !== 'number' || !Number.isInteger(stored) || stored < 0) return { ok: false, problem: 'invalid', detail: `version: ${JSON.stringify(stored)} is not a settings version` };
  if (stored > version) return { ok: false, problem: 'newer_version', detail: `written by a newer Latch (settings version ${stored}; this one reads up to ${version})` };
  let current = data;
  for (let v = stored + 1; v <= version; v++) {
    const migrate = migrations[v];
    if (!migrate) throw new Error(`no settings migration to version ${v}`);
    current = migrate(current);
  }
  const parsed = settingsSchema.safeParse({ ...DEFAULT_SETTINGS, ...current });
  if (!parsed.success) return { ok: false, problem: 'invalid', detail: describeSettingsIssues(parsed.error) };
  return { ok: true, settings: parsed.data, migratedFrom: stored < version ? stored : null };
}

/** The settings after `patch`, or the problems that make it unacceptable (nothing applied). */
export function applySettingsPatch(current: Settings, patch: unknown): { ok: true; settings: Settings } | { ok: false; detail: string } {
  const parsed = settingsPatchSchema.safeParse(patch);
  if (!parsed.success) return { ok: false, detail: describeSettingsIssues(parsed.error) };
  const { notifications = {}, ...rest } = parsed.data;
  // `{ theme: undefined }` passes `.partial()`; it means "unchanged", not "erase".
  const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  return { ok: true, settings: { ...current, ...defined(rest), notifications: { ...current.notifications, ...defined(notifications) } } };
}

/** `expiryWarningLeadMs: the expiry warning comes at most 1 hour before the end; theme: …` */
export function describeSettingsIssues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}
