/** The approvals queue: requests I may review, with Approve and Deny (with a comment); decided ones update in place. */
import { useEffect, useRef, useState } from 'react';
import type { DesktopSnapshot } from '../../../src/shared/desktop-api.js';
import { approvalQueue, type ApprovalItem } from '../logic/approvals.js';
import { useLatch } from '../context.js';
import { Button, Countdown, EmptyState, ErrorText, Field, Pill, Target } from '../components/ui.js';
import { durationLabel, whenLocal } from '../components/format.js';

export function ApprovalsView(props: { snapshot: DesktopSnapshot; focusRequestId?: string }) {
  const s = props.snapshot;
  const queue = approvalQueue(s.reviewQueue, s.user?.name ?? null, s.now, s.serverOffsetMs);
  const missing = props.focusRequestId !== undefined && !queue.items.some((i) => i.request.id === props.focusRequestId);
  return (
    <>
      {missing ? <p className="callout callout-info">That request is no longer in your review queue; it may have been decided a while ago.</p> : null}
      {queue.waiting === 0 ? (
        <EmptyState title="Nothing to review">
          <p>When someone asks for access you can approve, it shows up here{s.reviewQueue.length === 0 ? ' and in a notification' : ''}.</p>
        </EmptyState>
      ) : null}
      {queue.items.length > 0 ? (
        <ul className="stack" aria-label="Requests to review">
          {queue.items.map((item) => (
            <ApprovalCard key={item.request.id} item={item} times={s} focused={item.request.id === props.focusRequestId} />
          ))}
        </ul>
      ) : null}
    </>
  );
}

function ApprovalCard(props: { item: ApprovalItem; times: { now: number; serverOffsetMs: number }; focused: boolean }) {
  const { request: r, status } = props.item;
  const approve = useLatch((s) => s.approve);
  const deny = useLatch((s) => s.deny);
  const [denying, setDenying] = useState(false);
  const [comment, setComment] = useState('');
  const [tried, setTried] = useState(false);
  const [busy, setBusy] = useState<'approve' | 'deny' | null>(null);
  const [error, setError] = useState<string | null>(null);
  const ref = useRef<HTMLLIElement>(null);
  useEffect(() => {
    if (props.focused) ref.current?.scrollIntoView({ block: 'nearest' });
  }, [props.focused]);

  const who = r.requester;
  const decided = status.kind === 'decided';
  const commentError = tried && comment.trim() === '' ? `Say why you deny it; ${who} sees your comment.` : undefined;

  async function onApprove() {
    setBusy('approve');
    setError(null);
    const result = await approve(r.id);
    setBusy(null);
    if (!result.ok) setError(result.error.message);
  }

  async function onDeny() {
    setTried(true);
    if (comment.trim() === '') return;
    setBusy('deny');
    setError(null);
    const result = await deny(r.id, comment.trim());
    setBusy(null);
    if (!result.ok) setError(result.error.message);
    else setDenying(false);
  }

  return (
    <li
      ref={ref}
      className={`card approval${decided ? ' card-decided' : ''}${props.focused ? ' card-focused' : ''}`}
      aria-label={`${who} requests ${r.resource} ${r.role}`}
      data-request-id={r.id}
      data-state={r.state}
    >
      <header className="card-head">
        <span className="approval-who">
          <strong className="requester">{who}</strong>
          <span className="muted"> {r.kind === 'extension' ? 'asks for more time on' : 'asks for'}</span>
        </span>
        <span className="muted approval-age">{props.item.age}</span>
      </header>
      <p className="approval-what">
        <Target resource={r.resource} role={r.role} />
        <span className="muted"> · {r.kind === 'extension' ? `+${durationLabel(r.durationMs)}` : durationLabel(r.durationMs)}</span>
        {r.startAt ? <span className="muted"> · starts {whenLocal(r.startAt, props.times)}</span> : null}
        {r.breakGlass ? <> <Pill tone="bad">Break-glass</Pill></> : null}
      </p>
      {r.reason ? <blockquote className="reason">{r.reason}</blockquote> : <p className="muted">No reason given.</p>}

      {status.kind === 'decided' ? (
        <div className="outcome" role="status">
          <Pill tone={status.outcome.tone}>{status.outcome.text}</Pill>
          {status.outcome.comment ? <p className="decision-comment">“{status.outcome.comment}”</p> : null}
        </div>
      ) : (
        <dl className="facts">
          <div>
            <dt>Decide within</dt>
            <dd><Countdown value={props.item.approveWithin} label="Decide within" /></dd>
          </div>
          <div>
            <dt>Approvals</dt>
            <dd>{r.reviews.filter((v) => v.decision === 'approve').length} of {r.approvalsNeeded}</dd>
          </div>
        </dl>
      )}

      <ErrorText>{error}</ErrorText>

      {status.kind === 'blocked' ? <p className="muted">{status.text}</p> : null}
      {status.kind === 'awaiting' && !denying ? (
        <div className="actions">
          <Button kind="primary" busy={busy === 'approve'} onClick={() => void onApprove()} label={`Approve ${who}'s request`}>Approve</Button>
          <Button kind="danger" onClick={() => setDenying(true)} label={`Deny ${who}'s request`}>Deny…</Button>
        </div>
      ) : null}
      {status.kind === 'awaiting' && denying ? (
        <form
          className="subform"
          aria-label={`Deny ${who}'s request`}
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            void onDeny();
          }}
        >
          <Field label="Why deny it?" hint={`${who} sees this comment.`} error={commentError}>
            {({ id, describedBy, invalid }) => (
              <textarea id={id} className="input" rows={2} maxLength={1024} value={comment} autoFocus aria-describedby={describedBy} aria-invalid={invalid || undefined} onChange={(e) => setComment(e.target.value)} />
            )}
          </Field>
          <div className="actions">
            <Button kind="danger" type="submit" busy={busy === 'deny'}>Deny request</Button>
            <Button kind="quiet" onClick={() => setDenying(false)}>Back</Button>
          </div>
        </form>
      ) : null}
    </li>
  );
}
