import type { DesktopApi } from '../../src/shared/desktop-api.js';

declare global {
  interface Window {
    /** The desktop bridge (the preload in the app, the browser harness in e2e): the renderer's only way out. */
    latch: DesktopApi | undefined;
  }
}

export {};
