/**
 * The renderer's entry: builds the store on `window.latch` (the only way out of this page: the
 * preload in the app, the browser harness in e2e), follows the URL hash, and mounts the UI.
 */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import { StoreContext } from './context.js';
import { parseRoute } from './logic/route.js';
import { createLatchStore } from './store.js';
import './app.css';

function mount(root: HTMLElement): void {
  const api = window.latch;
  if (api === undefined) {
    // Opened outside Latch (a file, a plain browser): say so instead of a blank page.
    root.replaceChildren();
    const p = document.createElement('p');
    p.className = 'fatal';
    p.textContent = 'This is the Latch window. It works inside the Latch app (or its browser harness), which provides window.latch; open it from the tray.';
    root.append(p);
    return;
  }
  const store = createLatchStore(api, parseRoute(window.location.hash));
  window.addEventListener('hashchange', () => store.getState().setRoute(parseRoute(window.location.hash)));
  // Settings changed in another window show here when this one comes back (B39: main is the single writer).
  window.addEventListener('focus', () => void store.getState().refreshSettings());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') void store.getState().refreshSettings();
  });
  store.getState().start();
  createRoot(root).render(
    <StrictMode>
      <StoreContext.Provider value={store}>
        <App />
      </StoreContext.Provider>
    </StrictMode>,
  );
}

const root = document.getElementById('root');
if (root) mount(root);
