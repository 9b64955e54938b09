/** The window: header and navigation, the view of the current place, notices, and the status bar. */
import { useEffect, useRef } from 'react';
import type { DesktopSnapshot } from '../../src/shared/desktop-api.js';
import { approvalQueue } from './logic/approvals.js';
import { tabOf, type Route, type Tab } from './logic/route.js';
import { useLatch } from './context.js';
import { FLASH_MS } from './store.js';
import { Button, Callout, Skeleton } from './components/ui.js';
import { ApprovalsView } from './views/Approvals.js';
import { MyAccessView } from './views/MyAccess.js';
import { Notices } from './views/Notices.js';
import { RequestView } from './views/Request.js';
import { SetupView } from './views/Setup.js';
import { StatusBar } from './views/StatusBar.js';

const TITLES: Record<Tab, string> = { access: 'My access', request: 'Request access', approvals: 'Approvals', setup: 'Setup' };
const TAB_HREF: Record<Tab, string> = { access: '#/home', request: '#/request_access', approvals: '#/approvals', setup: '#/settings' };
const TAB_LABEL: Record<Tab, string> = { access: 'My access', request: 'Request', approvals: 'Approvals', setup: 'Setup' };

export function App() {
  const snapshot = useLatch((s) => s.snapshot);
  const route = useLatch((s) => s.route);
  const settings = useLatch((s) => s.settings);

  // The theme setting wins over the OS; `system` leaves it to prefers-color-scheme (app.css).
  useEffect(() => {
    document.documentElement.dataset.theme = settings?.theme ?? 'system';
  }, [settings?.theme]);

  const signedOut = snapshot?.phase === 'signed_out';
  const reviewing = route.target.view === 'request' && isReviewRequest(snapshot, route.target.requestId);
  const tab: Tab = signedOut ? 'setup' : tabOf(route.target, reviewing);
  const waiting = snapshot ? approvalQueue(snapshot.reviewQueue, snapshot.user?.name ?? null, snapshot.now, snapshot.serverOffsetMs).waiting : 0;

  // Keyboard and screen-reader users land on the new view's heading after moving (not on first load).
  const heading = useRef<HTMLHeadingElement>(null);
  const first = useRef(true);
  const placeKey = `${tab}:${JSON.stringify(route.target)}`;
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    heading.current?.focus({ preventScroll: true });
  }, [placeKey]);

  useEffect(() => {
    document.title = `${TITLES[tab]} — Latch`;
  }, [tab]);

  return (
    <div className="app">
      <header className="topbar">
        <span className="brand">Latch</span>
        {!signedOut ? (
          <nav className="tabs" aria-label="Views">
            {(['access', 'request', 'approvals', 'setup'] as const).map((t) => (
              <a key={t} href={TAB_HREF[t]} className="tab" aria-current={t === tab ? 'page' : undefined}>
                {TAB_LABEL[t]}
                {t === 'approvals' && waiting > 0 ? <span className="tab-badge" aria-label={`${waiting} waiting`}>{waiting}</span> : null}
              </a>
            ))}
          </nav>
        ) : null}
      </header>
      <main className="main" id="main">
        <div className="content">
          <h1 className="view-title" ref={heading} tabIndex={-1}>{TITLES[tab]}</h1>
          {snapshot ? <Notices notices={snapshot.notices} /> : null}
          <Flash />
          <View snapshot={snapshot} route={route} tab={tab} />
        </div>
      </main>
      <StatusBar snapshot={snapshot} />
    </div>
  );
}

function isReviewRequest(s: DesktopSnapshot | null, id: string): boolean {
  if (s === null) return false;
  const mine = s.requests.some((r) => r.id === id);
  return !mine && s.reviewQueue.some((r) => r.id === id);
}

function View(props: { snapshot: DesktopSnapshot | null; route: Route; tab: Tab }) {
  const s = props.snapshot;
  const t = props.route.target;
  if (props.tab === 'setup' && s !== null) return <SetupView snapshot={s} enroll={t.view === 'enroll'} />;
  // Before the first snapshot, and while signed in but not yet fetched: loading, never "no access" (B40).
  if (s === null || s.phase === 'loading') return <Loading snapshot={s} />;
  switch (props.tab) {
    case 'access': {
      if (t.view === 'grant') return <MyAccessView snapshot={s} focusGrantId={t.grantId} openExtend={t.extend === true} />;
      if (t.view === 'request') {
        // My approved request lives on as its grant.
        const r = s.requests.find((x) => x.id === t.requestId);
        if (r && r.state === 'approved' && r.kind === 'access' && r.grantId !== null) return <MyAccessView snapshot={s} focusGrantId={r.grantId} />;
        return <MyAccessView snapshot={s} focusRequestId={t.requestId} />;
      }
      return <MyAccessView snapshot={s} />;
    }
    case 'request':
      return <RequestView snapshot={s} query={props.route.query} />;
    case 'approvals':
      return <ApprovalsView snapshot={s} focusRequestId={t.view === 'request' ? t.requestId : undefined} />;
    case 'setup':
      return null;
  }
}

function Loading(props: { snapshot: DesktopSnapshot | null }) {
  const k = props.snapshot?.keychain;
  return (
    <>
      {k && k.status !== 'available' ? (
        <Callout tone="warning" title="Waiting for the keychain">
          {k.message} <a href="#/settings">Open Setup</a> to try again.
        </Callout>
      ) : null}
      <Skeleton />
    </>
  );
}

function Flash() {
  const flash = useLatch((s) => s.flash);
  const route = useLatch((s) => s.route);
  const now = useLatch((s) => s.snapshot?.now ?? 0);
  const showFlash = useLatch((s) => s.showFlash);
  if (flash === null || flash.view !== route.target.view || now - flash.at > FLASH_MS) return null;
  return (
    <div className="flash" role="status">
      <span>{flash.text}</span>
      <Button kind="quiet" small onClick={() => showFlash(null)} label="Dismiss">OK</Button>
    </div>
  );
}
