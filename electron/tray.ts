/** TraySink over Electron's Tray: the icon, tooltip, title and menu set again from each model (B32). */
import { join } from 'node:path';
import { Menu, nativeImage, Tray, type MenuItemConstructorOptions, type NativeImage, type Rectangle } from 'electron';
import type { TraySink } from '../src/desktop/deps.js';
import type { TrayAction, TrayIcon, TrayMenuItem } from '../src/desktop/tray-model.js';
import { assertNever } from '../src/shared/states.js';

export interface ElectronTray extends TraySink {
  destroy(): void;
}

/**
 * Icons: `<iconDir>/tray-<icon>.png` (+ `@2x`), `tray-<icon>Template.png` on macOS (a template image
 * follows the menu bar's colour, so each state has its own mark, not only its own colour).
 *
 * The approvals count and the next expiry: in the tooltip everywhere, in the title beside the icon
 * on macOS (the only platform with one), and in the menu ("Pending approvals (N)"), which is all
 * an AppIndicator tray shows.
 *
 * Clicks: on macOS and Windows a left click calls `onClick` (the popover) and the menu comes with
 * a right click; on Linux the menu is all there is (AppIndicator delivers no clicks, B32), and it
 * holds every action, "Open window" included.
 */
export function electronTray(iconDir: string, onAction: (action: TrayAction) => void, onClick?: (bounds: Rectangle) => void): ElectronTray {
  let tray: Tray | null = null;
  let menu: Menu | null = null;
  const mac = process.platform === 'darwin';
  const clickable = onClick !== undefined && (mac || process.platform === 'win32');
  const image = (icon: TrayIcon): NativeImage => nativeImage.createFromPath(join(iconDir, `tray-${icon}${mac ? 'Template' : ''}.png`));
  const item = (m: TrayMenuItem): MenuItemConstructorOptions => {
    switch (m.type) {
      case 'action':
        return { id: m.id, label: m.label, click: () => onAction(m.action) };
      case 'label':
        return { id: m.id, label: m.label, enabled: false };
      case 'submenu':
        return { id: m.id, label: m.label, submenu: m.items.map(item) };
      case 'separator':
        return { id: m.id, type: 'separator' };
      default:
        return assertNever(m, 'tray menu item');
    }
  };
  return {
    render(model) {
      if (!tray) {
        const t = new Tray(image(model.icon));
        tray = t;
        if (clickable) {
          t.on('click', (_event, bounds) => onClick(bounds));
          // On macOS a context menu set on the tray would take the left click too.
          if (mac) t.on('right-click', () => menu && t.popUpContextMenu(menu));
        }
      }
      tray.setImage(image(model.icon));
      tray.setToolTip(model.tooltip);
      if (mac) tray.setTitle(model.title);
      menu = Menu.buildFromTemplate(model.menu.map(item));
      if (!(clickable && mac)) tray.setContextMenu(menu);
    },
    destroy() {
      tray?.destroy();
      tray = null;
    },
  };
}
