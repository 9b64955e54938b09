/** One grant of mine that gives access now (or is being set up, or is ending): countdown, credential, Extend, End now. */
import { useEffect, useRef, useState } from 'react';
import { countdown } from '../../../src/shared/countdown.js';
import { CLIPBOARD_CLEAR_MS, copyableFields } from '../../../src/shared/credential-fields.js';
import type { CurrentGrant } from '../logic/access.js';
import { grantOutcome } from '../logic/outcome.js';
import { durationPresets } from '../logic/presets.js';
import { checkExtendForm, type RolePolicy } from '../logic/request-form.js';
import { useLatch } from '../context.js';
import { DurationPicker } from '../components/DurationPicker.js';
import { Button, Countdown, ErrorText, Field, Pill, Target } from '../components/ui.js';
import { durationLabel, whenLocal } from '../components/format.js';

export function GrantCard(props: {
  item: CurrentGrant;
  policy: RolePolicy | null;
  times: { now: number; serverOffsetMs: number };
  focused: boolean;
  openExtend: boolean;
}) {
  const { item, policy, times } = props;
  const g = item.grant;
  const copy = useLatch((s) => s.copies[g.id]);
  const copyCredential = useLatch((s) => s.copyCredential);
  const endGrant = useLatch((s) => s.endGrant);
  const [extending, setExtending] = useState(props.openExtend && item.canExtend);
  const [confirmEnd, setConfirmEnd] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const ref = useRef<HTMLElement>(null);

  useEffect(() => {
    if (props.focused) ref.current?.scrollIntoView({ block: 'nearest' });
  }, [props.focused]);

  const copyLeft = copy ? countdown(copy.clearsAt, times.now, 0) : null;
  const label = `${g.resource} ${g.role}`;

  async function onCopy(field: string, what: string) {
    setBusy(`copy-${field}`);
    setError(null);
    const r = await copyCredential(g.id, field, what);
    setBusy(null);
    if (!r.ok) setError(r.error.message);
    else setNote('note' in r.value && typeof r.value.note === 'string' ? r.value.note : null);
  }

  async function onEnd() {
    setBusy('end');
    setError(null);
    const r = await endGrant(g.id);
    setBusy(null);
    setConfirmEnd(false);
    if (!r.ok) setError(r.error.message);
  }

  const status = (() => {
    switch (item.phase) {
      case 'active':
        return <Pill tone="good">Active</Pill>;
      case 'provisioning':
        return <Pill tone="waiting">Setting up</Pill>;
      case 'expired':
        return <Pill tone="neutral">Ending</Pill>;
      default:
        return <Pill tone="waiting">{grantOutcome(g).text}</Pill>;
    }
  })();

  return (
    <article ref={ref} className={`card grant-card${props.focused ? ' card-focused' : ''}`} aria-label={`Access to ${label}`} data-grant-id={g.id}>
      <header className="card-head">
        <Target resource={g.resource} role={g.role} />
        {status}
      </header>

      {item.phase === 'active' || item.phase === 'expired' ? (
        <div className="grant-time">
          <Countdown value={item.left} label="Time left" large />
          <span className="grant-time-meta">
            {item.phase === 'active' ? <>left · ends at {whenLocal(g.expiresAt, times)}</> : <>ended here at {whenLocal(g.expiresAt, times)}; waiting for the server to revoke it</>}
          </span>
        </div>
      ) : item.phase === 'provisioning' ? (
        <p className="card-text">Being set up on {g.resource}; the countdown starts once it is ready.</p>
      ) : (
        <p className="card-text">
          {grantOutcome(g).text}
          {g.lastRevokeError ? <span className="muted"> — {g.lastRevokeError}</span> : null}
        </p>
      )}

      {g.breakGlass ? <p className="card-note"><Pill tone="bad">Break-glass</Pill> Everyone was notified; this access is reviewed afterwards.</p> : null}
      {item.pendingExtension ? (
        <p className="card-note">Asked for {durationLabel(item.pendingExtension.durationMs)} more, waiting for approval.</p>
      ) : null}

      {item.phase === 'active' && g.hasCredential && copyableFields(g.connector).length > 0 ? (
        <div className="credential" role="group" aria-label={`Credential for ${label}`}>
          {copyableFields(g.connector).map(({ field, label: what }) => (
            <Button key={field} small busy={busy === `copy-${field}`} onClick={() => void onCopy(field, what)} label={`Copy ${what}`}>
              Copy {what}
            </Button>
          ))}
        </div>
      ) : null}
      {copy && copyLeft && copyLeft.state === 'running' ? (
        <p className="copied" role="status">
          Copied {copy.label} · the clipboard clears in <span className="tabular">{Math.min(Math.ceil(copyLeft.remainingMs / 1000), CLIPBOARD_CLEAR_MS / 1000)} s</span>
          {note ? <span className="copied-note">{note}</span> : null}
        </p>
      ) : null}

      <ErrorText>{error}</ErrorText>

      {extending && policy ? (
        <ExtendForm grantId={g.id} label={label} policy={policy} onDone={() => setExtending(false)} />
      ) : confirmEnd ? (
        <div className="confirm" role="group" aria-label="Confirm ending access">
          <p className="confirm-text">End access to {g.resource} · {g.role} now? Open sessions are closed and the credential stops working.</p>
          <div className="actions">
            <Button kind="danger" busy={busy === 'end'} onClick={() => void onEnd()}>End access</Button>
            <Button kind="quiet" onClick={() => setConfirmEnd(false)}>Keep it</Button>
          </div>
        </div>
      ) : item.phase === 'active' || item.phase === 'provisioning' ? (
        <div className="actions">
          {item.canExtend && policy ? <Button onClick={() => setExtending(true)}>Extend…</Button> : null}
          <Button kind="danger" onClick={() => setConfirmEnd(true)}>End now</Button>
        </div>
      ) : null}
    </article>
  );
}

function ExtendForm(props: { grantId: string; label: string; policy: RolePolicy; onDone(): void }) {
  const extendGrant = useLatch((s) => s.extendGrant);
  const max = props.policy.extensions.maxDurationMs;
  const presets = durationPresets(max, Math.min(30 * 60_000, max));
  const [duration, setDuration] = useState<number | 'custom'>(presets.includes(30 * 60_000) ? 30 * 60_000 : (presets[0] ?? 'custom'));
  const [custom, setCustom] = useState('');
  const [reason, setReason] = useState('');
  const [tried, setTried] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const check = checkExtendForm({ duration, customDuration: custom, reason }, props.policy);
  const errors = tried && !check.ok ? check.errors : {};

  async function submit() {
    setTried(true);
    if (!check.ok) return;
    setBusy(true);
    setError(null);
    const r = await extendGrant(props.grantId, check.by, check.reason);
    setBusy(false);
    if (!r.ok) setError(r.error.message);
    else props.onDone();
  }

  return (
    <form
      className="subform"
      aria-label={`Extend ${props.label}`}
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <DurationPicker
        legend="More time"
        presets={presets}
        maxMs={max}
        value={duration}
        custom={custom}
        error={errors.duration}
        onChange={(v, c) => {
          setDuration(v);
          setCustom(c);
        }}
      />
      <Field label={<>Reason {props.policy.reasonRequired ? <span className="field-aside">required</span> : <span className="field-aside">optional</span>}</>} error={errors.reason}>
        {({ id, describedBy, invalid }) => (
          <textarea id={id} className="input" rows={2} value={reason} aria-describedby={describedBy} aria-invalid={invalid || undefined} onChange={(e) => setReason(e.target.value)} />
        )}
      </Field>
      <ErrorText>{error}</ErrorText>
      <div className="actions">
        <Button kind="primary" type="submit" busy={busy}>{props.policy.extensions.requireApproval ? 'Ask for more time' : 'Extend'}</Button>
        <Button kind="quiet" onClick={props.onDone}>Cancel</Button>
      </div>
    </form>
  );
}
