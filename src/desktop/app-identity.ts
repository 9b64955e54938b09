/**
 * Who the app is to the OS, in one place (FIELD-CASES B33). Windows shows a toast only for an
 * AppUserModelID that a Start-menu shortcut carries, and labels it with that shortcut's name;
 * electron-builder's NSIS installer gives its shortcut the AUMID `appId` and the name
 * `productName` of electron-builder.yml. So the app sets exactly these (electron/main.ts), and a
 * test keeps them equal to electron-builder.yml. Linux notifications and the tray use the app name.
 */

/** electron-builder.yml `appId`: the Windows AUMID of the installed shortcut, the macOS bundle id. */
export const APP_ID = 'dev.latch.desktop';

/** electron-builder.yml `productName` and package.json `productName`: what people see as the app's name. */
export const PRODUCT_NAME = 'Latch';

/**
 * electron-builder.yml `linux.executableName`: the binary of the deb and AppImage, and the name of
 * the XDG autostart entry (`latch.desktop`, src/desktop/autostart.ts).
 */
export const LINUX_EXECUTABLE = 'latch';
