/** Deep links are parsed in src/desktop/links.ts (Electron-free, tested there). */
export { DEEP_LINK_SCHEME, deepLinkInArgv, parseDeepLink, type DeepLink } from '../src/desktop/links.js';
