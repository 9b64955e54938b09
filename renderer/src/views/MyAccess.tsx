/** My access: what I have now, what is scheduled, what waits for approval, and what happened lately. */
import { useEffect, useRef, useState } from 'react';
import type { GrantView, RequestView, ResourceView } from '../../../src/shared/api.js';
import type { DesktopSnapshot } from '../../../src/shared/desktop-api.js';
import { hasNothingLive, myAccess, type HistoryItem, type PendingRequest, type ScheduledGrant } from '../logic/access.js';
import { describeApprovers, grantOutcome, requestOutcome } from '../logic/outcome.js';
import { findPolicy } from '../logic/request-form.js';
import { navigate, useLatch } from '../context.js';
import { Button, Countdown, EmptyState, ErrorText, Pill, Section, Target } from '../components/ui.js';
import { durationLabel, whenLocal } from '../components/format.js';
import { GrantCard } from './GrantCard.js';

export function MyAccessView(props: { snapshot: DesktopSnapshot; focusGrantId?: string; openExtend?: boolean; focusRequestId?: string }) {
  const s = props.snapshot;
  const [showAll, setShowAll] = useState(false);
  const access = myAccess(s, s.now, s.serverOffsetMs, showAll ? Number.POSITIVE_INFINITY : undefined);
  const times = { now: s.now, serverOffsetMs: s.serverOffsetMs };
  const missing =
    (props.focusGrantId !== undefined && !s.grants.some((g) => g.id === props.focusGrantId)) ||
    (props.focusRequestId !== undefined && !s.requests.some((r) => r.id === props.focusRequestId));

  return (
    <>
      {missing ? <p className="callout callout-info">That {props.focusGrantId ? 'grant' : 'request'} is not among your recent ones here; it may have been removed or be older than what Latch keeps.</p> : null}

      {hasNothingLive(access) ? (
        <EmptyState title="No active access">
          <p>Nothing is granted to you right now, and no request is waiting.</p>
          <Button kind="primary" onClick={() => navigate({ view: 'request_access' })}>Request access</Button>
        </EmptyState>
      ) : null}

      {access.current.length > 0 ? (
        <Section title="Active" count={access.current.length}>
          <div className="stack">
            {access.current.map((item) => (
              <GrantCard
                key={item.grant.id}
                item={item}
                policy={policyOf(s.resources, item.grant)}
                times={times}
                focused={item.grant.id === props.focusGrantId}
                openExtend={item.grant.id === props.focusGrantId && props.openExtend === true}
              />
            ))}
          </div>
        </Section>
      ) : null}

      {access.scheduled.length > 0 ? (
        <Section title="Scheduled" count={access.scheduled.length}>
          <div className="stack">
            {access.scheduled.map((item) => <ScheduledCard key={item.grant.id} item={item} times={times} focused={item.grant.id === props.focusGrantId} />)}
          </div>
        </Section>
      ) : null}

      {access.pending.length > 0 ? (
        <Section title="Waiting for approval" count={access.pending.length}>
          <div className="stack">
            {access.pending.map((item) => <PendingCard key={item.request.id} item={item} focused={item.request.id === props.focusRequestId} />)}
          </div>
        </Section>
      ) : null}

      {access.history.length > 0 ? (
        <Section title="Recent">
          <ul className="history" aria-label="Recent access and requests">
            {access.history.map((h) => <HistoryRow key={`${h.kind}-${h.id}`} item={h} me={s.user?.name ?? null} times={times} focused={h.id === props.focusRequestId || h.id === props.focusGrantId} />)}
          </ul>
          {access.moreHistory > 0 ? (
            <Button kind="quiet" small onClick={() => setShowAll(true)}>Show {access.moreHistory} more</Button>
          ) : null}
        </Section>
      ) : null}
    </>
  );
}

function policyOf(resources: readonly ResourceView[], g: GrantView) {
  return findPolicy(resources, g.resource, g.role);
}

function useScrollTo(focused: boolean) {
  const ref = useRef<HTMLElement & HTMLLIElement>(null);
  useEffect(() => {
    if (focused) ref.current?.scrollIntoView({ block: 'nearest' });
  }, [focused]);
  return ref;
}

function ScheduledCard(props: { item: ScheduledGrant; times: { now: number; serverOffsetMs: number }; focused: boolean }) {
  const g = props.item.grant;
  const endGrant = useLatch((s) => s.endGrant);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ref = useScrollTo(props.focused);
  return (
    <article ref={ref} className={`card${props.focused ? ' card-focused' : ''}`} aria-label={`Scheduled access to ${g.resource} ${g.role}`} data-grant-id={g.id}>
      <header className="card-head">
        <Target resource={g.resource} role={g.role} />
        <Pill tone="info">Scheduled</Pill>
      </header>
      <p className="card-text">
        Starts in <Countdown value={props.item.startsIn} label="Starts in" /> <span className="muted">· at {whenLocal(g.startAt, props.times)} · for {durationLabel(g.durationMs)}</span>
      </p>
      <ErrorText>{error}</ErrorText>
      <div className="actions">
        <Button
          kind="danger"
          busy={busy}
          onClick={async () => {
            setBusy(true);
            const r = await endGrant(g.id);
            setBusy(false);
            setError(r.ok ? null : r.error.message);
          }}
        >
          Cancel it
        </Button>
      </div>
    </article>
  );
}

function PendingCard(props: { item: PendingRequest; focused: boolean }) {
  const r = props.item.request;
  const cancel = useLatch((s) => s.cancel);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ref = useScrollTo(props.focused);
  return (
    <article ref={ref} className={`card${props.focused ? ' card-focused' : ''}`} aria-label={`Request for ${r.resource} ${r.role}`} data-request-id={r.id}>
      <header className="card-head">
        <Target resource={r.resource} role={r.role} />
        <Pill tone="waiting">Pending</Pill>
      </header>
      <p className="card-text">
        {r.kind === 'extension' ? <>{durationLabel(r.durationMs)} more on the active grant</> : <>{durationLabel(r.durationMs)}</>}
        {r.breakGlass ? <> · <Pill tone="bad">Break-glass</Pill></> : null}
      </p>
      {r.reason ? <blockquote className="reason">{r.reason}</blockquote> : null}
      <dl className="facts">
        <div>
          <dt>Approvers</dt>
          <dd>
            {describeApprovers(r.approvers)}
            {r.approvalsNeeded > 1 ? <span className="muted"> · {r.reviews.filter((v) => v.decision === 'approve').length} of {r.approvalsNeeded} approved</span> : null}
          </dd>
        </div>
        <div>
          <dt>Approve within</dt>
          <dd><Countdown value={props.item.approveWithin} label="Approve within" /></dd>
        </div>
      </dl>
      <ErrorText>{error}</ErrorText>
      <div className="actions">
        <Button
          busy={busy}
          onClick={async () => {
            setBusy(true);
            const result = await cancel(r.id);
            setBusy(false);
            setError(result.ok ? null : result.error.message);
          }}
        >
          Cancel request
        </Button>
      </div>
    </article>
  );
}

function HistoryRow(props: { item: HistoryItem; me: string | null; times: { now: number; serverOffsetMs: number }; focused: boolean }) {
  const ref = useScrollTo(props.focused);
  const x: GrantView | RequestView = props.item.kind === 'grant' ? props.item.grant : props.item.request;
  const outcome = props.item.kind === 'grant' ? grantOutcome(props.item.grant) : requestOutcome(props.item.request, props.me);
  const when = props.item.kind === 'grant' ? props.item.grant.endedAt ?? props.item.grant.expiresAt : props.item.request.decidedAt ?? props.item.request.createdAt;
  const extension = props.item.kind === 'request' && props.item.request.kind === 'extension';
  return (
    <li ref={ref} className={`history-row${props.focused ? ' card-focused' : ''}`} data-request-id={props.item.kind === 'request' ? x.id : undefined} data-grant-id={props.item.kind === 'grant' ? x.id : undefined}>
      <div className="history-main">
        <Target resource={x.resource} role={x.role} />
        <span className="muted"> · {extension ? `${durationLabel(x.durationMs)} more` : durationLabel(x.durationMs)}</span>
      </div>
      <div className="history-outcome">
        <span className={`tone-${outcome.tone}`}>{outcome.text}</span>
        <span className="muted"> · {whenLocal(when, props.times)}</span>
      </div>
      {outcome.comment ? <p className="decision-comment">“{outcome.comment}”</p> : null}
    </li>
  );
}
