/** Request access: pick a resource and role I may request, a duration within its policy, a reason, maybe a start. */
import { useEffect, useState } from 'react';
import type { GrantView, ResourceView } from '../../../src/shared/api.js';
import type { DesktopSnapshot } from '../../../src/shared/desktop-api.js';
import { REASON_MAX, REASON_MIN } from '../../../src/shared/reason.js';
import type { Settings } from '../../../src/shared/settings.js';
import { describeApprovers } from '../logic/outcome.js';
import { durationPresets, initialDuration } from '../logic/presets.js';
import { checkRequestForm, draftAt, existingAccess, findPolicy, prefillKey, prefillSelection, type RolePolicy } from '../logic/request-form.js';
import { navigate, useLatch } from '../context.js';
import { DurationPicker } from '../components/DurationPicker.js';
import { Button, Callout, EmptyState, ErrorText, Field, Target } from '../components/ui.js';
import { durationLabel, whenLocal } from '../components/format.js';
import type { RequestDraft } from '../store.js';

function freshDraft(resources: readonly ResourceView[], query: Record<string, string>, settings: Settings | null): RequestDraft {
  const pick = prefillSelection(resources, query);
  const policy = findPolicy(resources, pick.resource, pick.role);
  return {
    resource: pick.resource,
    role: pick.role,
    duration: policy ? initialDuration(policy, settings?.defaultDurationMs ?? null) : 'custom',
    customDuration: '',
    reason: '',
    start: 'now',
    startLocal: '',
    breakGlass: false,
    prefill: prefillKey(query),
  };
}

export function RequestView(props: { snapshot: DesktopSnapshot; query: Record<string, string> }) {
  const s = props.snapshot;
  const settings = useLatch((st) => st.settings);
  const stored = useLatch((st) => st.draft);
  const setDraft = useLatch((st) => st.setDraft);
  const requestAccess = useLatch((st) => st.requestAccess);
  const showFlash = useLatch((st) => st.showFlash);
  const [tried, setTried] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const draft = draftAt(stored, props.query, () => freshDraft(s.resources, props.query, settings));
  // Kept in the store once the choices and my preferred duration are known, so switching views keeps it.
  useEffect(() => {
    if (draft !== stored && s.resources.length > 0 && settings !== null) setDraft(draft);
  }, [stored, s.resources.length, settings, draft, setDraft]);
  const unknown = prefillSelection(s.resources, props.query).unknown;

  if (s.resources.length === 0) {
    return (
      <EmptyState title="Nothing to request">
        <p>No policy lets you request access yet. Ask an admin to add you to a group that may request what you need.</p>
      </EmptyState>
    );
  }

  const resource = s.resources.find((r) => r.name === draft.resource) ?? null;
  const policy = findPolicy(s.resources, draft.resource, draft.role);
  const existing = existingAccess(s, draft.resource, draft.role, s.now, s.serverOffsetMs);
  const check = checkRequestForm(draft, policy, s.now);
  const errors = tried && !check.ok ? check.errors : {};
  const update = (patch: Partial<RequestDraft>) => setDraft({ ...draft, ...patch });

  function choose(resourceName: string, role: string) {
    const p = findPolicy(s.resources, resourceName, role);
    update({ resource: resourceName, role, duration: p ? initialDuration(p, settings?.defaultDurationMs ?? null) : 'custom', customDuration: '', breakGlass: false, start: 'now' });
  }

  async function submit() {
    setTried(true);
    setError(null);
    if (!check.ok || existing?.kind === 'pending') return;
    setBusy(true);
    const r = await requestAccess(check.body);
    setBusy(false);
    if (!r.ok) {
      setError(r.error.message);
      return;
    }
    const req = r.value;
    const what = `${req.resource} · ${req.role} for ${durationLabel(req.durationMs)}`;
    showFlash(req.state === 'approved' ? `Granted ${what}.` : `Requested ${what}; waiting for ${describeApprovers(req.approvers)}.`);
    setDraft(null);
    setTried(false);
    navigate({ view: 'home' });
  }

  return (
    <form
      className="card form"
      aria-label="Request access"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      {unknown ? <Callout tone="warning">You cannot request {unknown}, or it does not exist; choose from what you may request.</Callout> : null}

      <div className="form-row">
        <Field label="Resource" error={errors.resource}>
          {({ id, describedBy }) => (
            <select id={id} className="input" value={draft.resource} aria-describedby={describedBy} onChange={(e) => {
              const next = s.resources.find((r) => r.name === e.target.value);
              choose(e.target.value, next?.roles[0]?.role ?? '');
            }}>
              {s.resources.map((r) => <option key={r.name} value={r.name}>{r.name}</option>)}
            </select>
          )}
        </Field>
        <Field label="Role">
          {({ id, describedBy }) => (
            <select id={id} className="input" value={draft.role} aria-describedby={describedBy} onChange={(e) => choose(draft.resource, e.target.value)}>
              {(resource?.roles ?? []).map((p) => <option key={p.role} value={p.role}>{p.role}</option>)}
            </select>
          )}
        </Field>
      </div>

      {resource && policy ? <PolicySummary resource={resource} policy={policy} /> : null}

      {existing?.kind === 'pending' ? (
        <Callout tone="warning" title="Already asked">
          You asked for <Target resource={draft.resource} role={draft.role} /> {existing.age}; it is waiting for approval.{' '}
          <a href={`#/request?requestId=${existing.request.id}`}>See the request</a> or cancel it there to ask again.
        </Callout>
      ) : existing?.kind === 'active' ? (
        <Callout tone="info" title="You already have this access">
          <Target resource={draft.resource} role={draft.role} /> is active for <span className="tabular">{existing.left.text}</span> more (until {whenLocal(existing.grant.expiresAt, s)}).{' '}
          {canExtend(s, existing.grant) ? <a href={`#/grant?grantId=${existing.grant.id}&extend=true`}>Extend it instead</a> : <a href={`#/grant?grantId=${existing.grant.id}`}>See it</a>}
        </Callout>
      ) : existing?.kind === 'starting' ? (
        <Callout tone="info" title="Already on its way">
          <Target resource={draft.resource} role={draft.role} /> is {existing.grant.state === 'scheduled' ? `scheduled to start at ${whenLocal(existing.grant.startAt, s)}` : 'being set up'}.{' '}
          <a href={`#/grant?grantId=${existing.grant.id}`}>See it</a>
        </Callout>
      ) : null}

      {policy ? (
        <DurationPicker
          legend="Duration"
          presets={durationPresets(policy.maxDurationMs, policy.defaultDurationMs)}
          maxMs={policy.maxDurationMs}
          value={draft.duration}
          custom={draft.customDuration}
          error={errors.duration}
          onChange={(duration, customDuration) => update({ duration, customDuration })}
        />
      ) : null}

      {policy?.breakGlass ? (
        <div className="field">
          <label className="check">
            <input type="checkbox" checked={draft.breakGlass} onChange={(e) => update({ breakGlass: e.target.checked })} />
            <span>Break-glass: access at once, without review</span>
          </label>
          <div className="field-hint">For emergencies only. Everyone is notified and the access is reviewed afterwards.</div>
        </div>
      ) : null}

      {policy?.scheduledStart && !draft.breakGlass ? <StartPicker draft={draft} update={update} error={errors.startAt} /> : null}

      <Field
        label={<>Reason {policy?.reasonRequired === false ? <span className="field-aside">optional</span> : <span className="field-aside">required</span>}</>}
        hint={<>Approvers read it. {policy?.reasonRequired === false ? '' : `At least ${REASON_MIN} characters. `}<span className="tabular">{[...draft.reason.trim()].length}/{REASON_MAX}</span></>}
        error={errors.reason}
      >
        {({ id, describedBy, invalid }) => (
          <textarea
            id={id}
            className="input"
            rows={3}
            maxLength={REASON_MAX * 2}
            placeholder="e.g. INC-1234: check replication lag on the replica"
            value={draft.reason}
            aria-describedby={describedBy}
            aria-invalid={invalid || undefined}
            onChange={(e) => update({ reason: e.target.value })}
          />
        )}
      </Field>

      <ErrorText>{error}</ErrorText>
      <div className="actions">
        <Button kind="primary" type="submit" busy={busy} disabled={existing?.kind === 'pending'}>
          {draft.breakGlass ? 'Break glass' : policy?.autoApproved ? 'Get access' : 'Request access'}
        </Button>
      </div>
    </form>
  );
}

/** Extend is offered when the grant has extensions left and none is waiting for approval. */
function canExtend(s: DesktopSnapshot, g: GrantView): boolean {
  return g.extensionsUsed < g.extensionsAllowed && !s.requests.some((r) => r.kind === 'extension' && r.state === 'pending' && r.grantId === g.id);
}

function PolicySummary(props: { resource: ResourceView; policy: RolePolicy }) {
  const p = props.policy;
  return (
    <dl className="facts policy" aria-label="What the policy allows">
      {props.resource.description || p.description ? (
        <div className="facts-wide">
          <dt>About</dt>
          <dd>{[props.resource.description, p.description].filter(Boolean).join(' — ')}</dd>
        </div>
      ) : null}
      <div>
        <dt>Longest</dt>
        <dd>{durationLabel(p.maxDurationMs)}</dd>
      </div>
      <div>
        <dt>Reason</dt>
        <dd>{p.reasonRequired ? 'required' : 'optional'}</dd>
      </div>
      <div className="facts-wide">
        <dt>Approved by</dt>
        <dd>
          {p.autoApproved ? 'automatically, for you' : `${describeApprovers(p.approvers)}${p.approvalsNeeded > 1 ? ` (${p.approvalsNeeded} approvals)` : ''}`}
        </dd>
      </div>
    </dl>
  );
}

function StartPicker(props: { draft: RequestDraft; update(patch: Partial<RequestDraft>): void; error?: string | undefined }) {
  const { draft, update } = props;
  return (
    <fieldset className={`field${props.error ? ' field-invalid' : ''}`}>
      <legend className="field-label">Start</legend>
      <div className="chips">
        <label className="chip">
          <input type="radio" name="start" checked={draft.start === 'now'} onChange={() => update({ start: 'now' })} />
          <span>When approved</span>
        </label>
        <label className="chip">
          <input type="radio" name="start" checked={draft.start === 'later'} onChange={() => update({ start: 'later' })} />
          <span>At a time</span>
        </label>
      </div>
      {draft.start === 'later' ? (
        <div className="duration-custom">
          <label className="visually-hidden" htmlFor="start-at">Start time</label>
          <input id="start-at" className="input input-narrow" type="datetime-local" value={draft.startLocal} aria-invalid={Boolean(props.error) || undefined} onChange={(e) => update({ startLocal: e.target.value })} />
        </div>
      ) : null}
      {props.error ? <div className="field-error">{props.error}</div> : null}
    </fieldset>
  );
}
