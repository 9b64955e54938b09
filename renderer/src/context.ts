/** The store and the ways to move around, handed to the views by React context (no module singletons, STYLE.md §4). */
import { createContext, useContext } from 'react';
import { useStore } from 'zustand';
import type { WindowTarget } from '../../src/shared/desktop-api.js';
import { routeHash } from './logic/route.js';
import type { LatchActions, LatchState, LatchStore } from './store.js';

export const StoreContext = createContext<LatchStore | null>(null);

export function useLatchStore(): LatchStore {
  const store = useContext(StoreContext);
  if (store === null) throw new Error('useLatch outside <StoreContext.Provider>');
  return store;
}

export function useLatch<T>(select: (s: LatchState & LatchActions) => T): T {
  return useStore(useLatchStore(), select);
}

/** Moves to a place in the window: the hash changes, and the hashchange listener routes. */
export function navigate(target: WindowTarget, query: Record<string, string> = {}): void {
  window.location.hash = routeHash(target, query);
}
