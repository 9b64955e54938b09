/** Small building blocks: real buttons, labelled fields, callouts, pills, skeletons. */
import { useId, type ReactNode } from 'react';
import type { Countdown as CountdownValue } from '../../../src/shared/countdown.js';
import type { Tone } from '../logic/outcome.js';

type ButtonKind = 'primary' | 'secondary' | 'danger' | 'quiet';

export function Button(props: {
  kind?: ButtonKind;
  type?: 'button' | 'submit';
  busy?: boolean;
  disabled?: boolean;
  onClick?: () => void;
  children: ReactNode;
  /** For buttons whose text alone is ambiguous in a list ("Approve" → "Approve alice's request"). */
  label?: string;
  small?: boolean;
}) {
  const { kind = 'secondary', type = 'button', busy = false, disabled = false, small = false } = props;
  return (
    <button
      type={type}
      className={`btn btn-${kind}${small ? ' btn-small' : ''}`}
      disabled={disabled || busy}
      aria-busy={busy || undefined}
      aria-label={props.label}
      onClick={props.onClick}
    >
      {props.children}
    </button>
  );
}

/** A labelled control with its hint and error, wired for screen readers. */
export function Field(props: {
  label: ReactNode;
  hint?: ReactNode;
  error?: string | undefined;
  children: (ids: { id: string; describedBy: string | undefined; invalid: boolean }) => ReactNode;
}) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [props.hint ? hintId : null, props.error ? errorId : null].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${props.error ? ' field-invalid' : ''}`}>
      <label className="field-label" htmlFor={id}>{props.label}</label>
      {props.children({ id, describedBy, invalid: Boolean(props.error) })}
      {props.hint ? <div className="field-hint" id={hintId}>{props.hint}</div> : null}
      {props.error ? <div className="field-error" id={errorId}>{props.error}</div> : null}
    </div>
  );
}

/** An action's failure, as the agent said it. */
export function ErrorText({ children }: { children: ReactNode }) {
  if (children === null || children === undefined || children === '') return null;
  return <p className="error-text" role="alert">{children}</p>;
}

export function Callout(props: { tone: 'info' | 'warning' | 'error'; children: ReactNode; title?: string }) {
  return (
    <div className={`callout callout-${props.tone}`} role={props.tone === 'error' ? 'alert' : undefined}>
      {props.title ? <strong className="callout-title">{props.title}</strong> : null}
      <div>{props.children}</div>
    </div>
  );
}

export function Pill(props: { tone: Tone | 'info'; children: ReactNode }) {
  return <span className={`pill pill-${props.tone}`}>{props.children}</span>;
}

export function Section(props: { title: string; count?: number; children: ReactNode; id?: string }) {
  const headingId = useId();
  return (
    <section className="section" aria-labelledby={headingId} id={props.id}>
      <h2 className="section-title" id={headingId}>
        {props.title}
        {props.count !== undefined ? <span className="section-count">{props.count}</span> : null}
      </h2>
      {props.children}
    </section>
  );
}

export function EmptyState(props: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty-title">{props.title}</p>
      {props.children ? <div className="empty-body">{props.children}</div> : null}
    </div>
  );
}

/** Fixed-width h:mm:ss (tabular digits), read out as a timer only on request. */
export function Countdown(props: { value: CountdownValue; label: string; large?: boolean }) {
  return (
    <span className={`countdown${props.large ? ' countdown-large' : ''}`} role="timer" aria-label={`${props.label}: ${props.value.text}`}>
      {props.value.text}
    </span>
  );
}

/** Grey placeholders in the shape of the cards: loading, never "no access" (B40). */
export function Skeleton({ rows = 3 }: { rows?: number }) {
  return (
    <div className="skeleton" aria-busy="true" aria-label="Loading">
      {Array.from({ length: rows }, (_, i) => (
        <div className="skeleton-card" key={i}>
          <div className="skeleton-line skeleton-w60" />
          <div className="skeleton-line skeleton-w40" />
          <div className="skeleton-line skeleton-w80" />
        </div>
      ))}
    </div>
  );
}

/** `pg-prod · readonly` with the role de-emphasised. */
export function Target(props: { resource: string; role: string }) {
  return (
    <span className="target">
      <span className="target-resource">{props.resource}</span>
      <span className="target-sep" aria-hidden="true"> · </span>
      <span className="target-role">{props.role}</span>
    </span>
  );
}
