/** Always visible: the connection (live / reconnecting / offline since…), how old the data is, and who is signed in where. */
import type { DesktopSnapshot } from '../../../src/shared/desktop-api.js';
import { connectionLine } from '../logic/connection.js';
import { clock } from '../components/format.js';

export function StatusBar(props: { snapshot: DesktopSnapshot | null }) {
  const s = props.snapshot;
  if (s === null) {
    return (
      <footer className="statusbar" role="status" aria-label="Connection">
        <span className="status status-loading"><span className="status-dot" aria-hidden="true" />Connecting to Latch…</span>
      </footer>
    );
  }
  const line = connectionLine(s, clock);
  const host = s.serverUrl === null ? null : s.serverUrl.replace(/^https?:\/\//, '');
  return (
    <footer className="statusbar" aria-label="Connection">
      <span className={`status status-${line.tone}`} role="status" data-connection={line.tone} title={line.detail ?? undefined}>
        <span className="status-dot" aria-hidden="true" />
        {line.label}
        {line.detail ? <span className="visually-hidden">: {line.detail}</span> : null}
      </span>
      {line.asOf ? <span className="status-asof">{line.asOf}</span> : null}
      {s.user && host ? <span className="status-who" title={s.serverUrl ?? undefined}>{s.user.name} · {host}</span> : null}
    </footer>
  );
}
