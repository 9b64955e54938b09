/** Setup: sign in (server URL + enrollment code), the keychain's state, the account, and settings. */
import { useState, type ReactNode } from 'react';
import type { DesktopSnapshot, KeychainStatusName, SettingsUpdate } from '../../../src/shared/desktop-api.js';
import type { Settings } from '../../../src/shared/settings.js';
import { assertNever } from '../../../src/shared/states.js';
import { durationLabel } from '../logic/presets.js';
import { navigate, useLatch } from '../context.js';
import { Button, ErrorText, Field, Pill, Section } from '../components/ui.js';

const MIN = 60_000;

export function SetupView(props: { snapshot: DesktopSnapshot; enroll: boolean }) {
  const s = props.snapshot;
  const signedIn = s.phase !== 'signed_out';
  return (
    <>
      {!signedIn || props.enroll ? <EnrollForm snapshot={s} again={signedIn} /> : null}
      {signedIn ? <AccountCard snapshot={s} /> : null}
      <KeychainCard snapshot={s} />
      <SettingsCard />
    </>
  );
}

function EnrollForm(props: { snapshot: DesktopSnapshot; again: boolean }) {
  const enroll = useLatch((s) => s.enroll);
  const showFlash = useLatch((s) => s.showFlash);
  const [url, setUrl] = useState(props.snapshot.serverUrl ?? '');
  const [code, setCode] = useState('');
  const [tried, setTried] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const urlError = tried ? checkUrl(url) : undefined;
  const codeError = tried && code.trim() === '' ? 'Enter the enrollment code from your admin.' : undefined;

  async function submit() {
    setTried(true);
    setError(null);
    if (checkUrl(url) !== undefined || code.trim() === '') return;
    setBusy(true);
    const r = await enroll(url.trim(), code.trim());
    setBusy(false);
    if (!r.ok) {
      setError(r.error.message);
      return;
    }
    setCode('');
    showFlash(`Signed in as ${r.value.user.name} at ${r.value.serverUrl}.`);
    navigate({ view: 'home' });
  }

  return (
    <form
      className="card form"
      aria-label="Sign in"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h2 className="card-title">{props.again ? 'Sign in again, or to another server' : 'Sign in to your Latch server'}</h2>
      <p className="card-text muted">Your admin gives you the server address and a one-time enrollment code for this device.</p>
      <Field label="Server URL" error={urlError}>
        {({ id, describedBy, invalid }) => (
          <input id={id} className="input" type="url" inputMode="url" autoComplete="url" spellCheck={false} placeholder="https://latch.example.com" value={url} aria-describedby={describedBy} aria-invalid={invalid || undefined} onChange={(e) => setUrl(e.target.value)} />
        )}
      </Field>
      <Field label="Enrollment code" error={codeError} hint="It works once and expires after 7 days.">
        {({ id, describedBy, invalid }) => (
          <input id={id} className="input input-code" type="text" autoComplete="one-time-code" spellCheck={false} value={code} aria-describedby={describedBy} aria-invalid={invalid || undefined} onChange={(e) => setCode(e.target.value)} />
        )}
      </Field>
      <ErrorText>{error}</ErrorText>
      <div className="actions">
        <Button kind="primary" type="submit" busy={busy}>Sign in</Button>
      </div>
    </form>
  );
}

/** A quick look before sending; the agent checks the URL properly. */
function checkUrl(url: string): string | undefined {
  const t = url.trim();
  if (t === '') return 'Enter the server address, like https://latch.example.com.';
  if (!/^https?:\/\/[^\s/]+/i.test(t)) return 'The server URL must start with http:// or https://.';
  return undefined;
}

const KEYCHAIN_TONE: Record<KeychainStatusName, 'good' | 'bad' | 'waiting'> = {
  available: 'good',
  unavailable: 'bad',
  locked: 'waiting',
  denied: 'bad',
  timeout: 'waiting',
};

function keychainLabel(status: KeychainStatusName): string {
  switch (status) {
    case 'available':
      return 'Available';
    case 'unavailable':
      return 'Unavailable';
    case 'locked':
      return 'Locked';
    case 'denied':
      return 'Access denied';
    case 'timeout':
      return 'Not answering';
    default:
      return assertNever(status, 'keychain status');
  }
}

function KeychainCard(props: { snapshot: DesktopSnapshot }) {
  const retry = useLatch((s) => s.retryKeychain);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const k = props.snapshot.keychain;
  return (
    <Section title="Secure storage">
      <div className="card keychain" aria-label="Keychain">
        <div className="card-head">
          <span>Keychain</span>
          <Pill tone={KEYCHAIN_TONE[k.status]}>{keychainLabel(k.status)}</Pill>
        </div>
        <p className="card-text">{k.message}</p>
        <ErrorText>{error}</ErrorText>
        {k.status !== 'available' ? (
          <div className="actions">
            <Button
              busy={busy}
              onClick={async () => {
                setBusy(true);
                const r = await retry();
                setBusy(false);
                setError(r.ok ? null : r.error.message);
              }}
            >
              Try the keychain again
            </Button>
          </div>
        ) : null}
      </div>
    </Section>
  );
}

function AccountCard(props: { snapshot: DesktopSnapshot }) {
  const signOut = useLatch((s) => s.signOut);
  const [confirm, setConfirm] = useState(false);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ error: boolean; text: string } | null>(null);
  const s = props.snapshot;
  return (
    <Section title="Account">
      <div className="card">
        <dl className="facts">
          <div>
            <dt>Signed in as</dt>
            <dd>{s.user ? <>{s.user.name}{s.user.groups.length > 0 ? <span className="muted"> ({s.user.groups.join(', ')})</span> : null}</> : '…'}</dd>
          </div>
          <div className="facts-wide">
            <dt>Server</dt>
            <dd className="breakable">{s.serverUrl ?? '—'}</dd>
          </div>
        </dl>
        {message ? (message.error ? <ErrorText>{message.text}</ErrorText> : <p className="card-text" role="status">{message.text}</p>) : null}
        {confirm ? (
          <div className="confirm" role="group" aria-label="Confirm signing out">
            <p className="confirm-text">Sign this device out? Its credential and every grant's secret are removed from this device; your grants keep running until they end.</p>
            <div className="actions">
              <Button
                kind="danger"
                busy={busy}
                onClick={async () => {
                  setBusy(true);
                  const r = await signOut();
                  setBusy(false);
                  setConfirm(false);
                  if (!r.ok) setMessage({ error: true, text: r.error.message });
                  else if (!r.value.revokedOnServer) setMessage({ error: false, text: 'Signed out here. The server could not be told: ask an admin to remove this device.' });
                }}
              >
                Sign out
              </Button>
              <Button kind="quiet" onClick={() => setConfirm(false)}>Stay signed in</Button>
            </div>
          </div>
        ) : (
          <div className="actions">
            <Button onClick={() => setConfirm(true)}>Sign out…</Button>
            <Button kind="quiet" onClick={() => navigate({ view: 'enroll' })}>Use another enrollment code</Button>
          </div>
        )}
      </div>
    </Section>
  );
}

const LEADS = [1, 2, 5, 10, 15, 30, 60].map((m) => m * MIN);
const DEFAULT_DURATIONS = [15, 30, 60, 120, 240, 480].map((m) => m * MIN);

function SettingsCard() {
  const settings = useLatch((s) => s.settings);
  const updateSettings = useLatch((s) => s.updateSettings);
  const [saving, setSaving] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  if (settings === null) {
    return (
      <Section title="Settings">
        <div className="card"><p className="card-text muted">Loading settings…</p></div>
      </Section>
    );
  }

  /** Only the changed key goes to main (B39). */
  async function change(key: string, patch: SettingsUpdate) {
    setSaving(key);
    setError(null);
    const r = await updateSettings(patch);
    setSaving(null);
    if (!r.ok) setError(r.error.message);
  }
  const n = settings.notifications;
  const toggle = (key: keyof Settings['notifications'], label: ReactNode, hint?: string) => (
    <label className="check">
      <input type="checkbox" checked={n[key]} disabled={saving === key || (key !== 'muted' && n.muted)} onChange={(e) => void change(key, { notifications: { [key]: e.target.checked } })} />
      <span>
        {label}
        {hint ? <span className="field-hint block">{hint}</span> : null}
      </span>
    </label>
  );

  return (
    <Section title="Settings">
      <form className="card form" aria-label="Settings" onSubmit={(e) => e.preventDefault()}>
        <fieldset className="field">
          <legend className="field-label">Notifications</legend>
          {toggle('approvals', 'Someone asks for access I can approve')}
          {toggle('decisions', 'My request is approved or denied')}
          {toggle('expiring', 'My access is about to end')}
          {toggle('muted', 'Mute all notifications', 'Nothing pops up; the tray still shows everything.')}
        </fieldset>

        <div className="form-row">
          <Field label="Warn before access ends">
            {({ id }) => (
              <select id={id} className="input" value={settings.expiryWarningLeadMs} disabled={saving === 'lead'} onChange={(e) => void change('lead', { expiryWarningLeadMs: Number(e.target.value) })}>
                {(LEADS.includes(settings.expiryWarningLeadMs) ? LEADS : [...LEADS, settings.expiryWarningLeadMs].sort((a, b) => a - b)).map((ms) => (
                  <option key={ms} value={ms}>{durationLabel(ms)} before</option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Preselected duration">
            {({ id }) => (
              <select id={id} className="input" value={settings.defaultDurationMs ?? ''} disabled={saving === 'duration'} onChange={(e) => void change('duration', { defaultDurationMs: e.target.value === '' ? null : Number(e.target.value) })}>
                <option value="">The policy’s default</option>
                {(settings.defaultDurationMs === null || DEFAULT_DURATIONS.includes(settings.defaultDurationMs) ? DEFAULT_DURATIONS : [...DEFAULT_DURATIONS, settings.defaultDurationMs].sort((a, b) => a - b)).map((ms) => (
                  <option key={ms} value={ms}>{durationLabel(ms)}</option>
                ))}
              </select>
            )}
          </Field>
        </div>

        <fieldset className="field">
          <legend className="field-label">Theme</legend>
          <div className="chips">
            {(['system', 'light', 'dark'] as const).map((t) => (
              <label className="chip" key={t}>
                <input type="radio" name="theme" value={t} checked={settings.theme === t} disabled={saving === 'theme'} onChange={() => void change('theme', { theme: t })} />
                <span>{t === 'system' ? 'Like the system' : t === 'light' ? 'Light' : 'Dark'}</span>
              </label>
            ))}
          </div>
        </fieldset>

        <label className="check">
          <input type="checkbox" checked={settings.startAtLogin} disabled={saving === 'login'} onChange={(e) => void change('login', { startAtLogin: e.target.checked })} />
          <span>Start Latch when I log in</span>
        </label>

        <ErrorText>{error}</ErrorText>
      </form>
    </Section>
  );
}
