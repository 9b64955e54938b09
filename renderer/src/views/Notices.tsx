/** The agent's non-blocking notices (settings reset, signed out, keychain…), until dismissed. */
import { useState } from 'react';
import type { Notice } from '../../../src/shared/desktop-api.js';
import { useLatch } from '../context.js';

export function Notices(props: { notices: readonly Notice[] }) {
  const dismiss = useLatch((s) => s.dismissNotice);
  const [failed, setFailed] = useState<Record<string, string>>({});
  if (props.notices.length === 0) return null;
  return (
    <div className="notices" role="region" aria-label="Notices" aria-live="polite">
      {props.notices.map((n) => (
        <div key={n.id} className={`notice notice-${n.level}`} data-notice-kind={n.kind}>
          <p className="notice-text">
            {n.message}
            {failed[n.id] ? <span className="notice-failed"> {failed[n.id]}</span> : null}
          </p>
          <button
            type="button"
            className="notice-dismiss"
            aria-label={`Dismiss: ${n.message}`}
            onClick={async () => {
              const r = await dismiss(n.id);
              if (!r.ok) setFailed({ ...failed, [n.id]: r.error.message });
            }}
          >
            <span aria-hidden="true">×</span>
          </button>
        </div>
      ))}
    </div>
  );
}
