/**
 * Where the tray popover goes (DESIGN.md "Electron shell": a small popover window by the tray and
 * a full window). Pure, from the tray icon's bounds and the work area of its display (both from
 * Electron's `screen`): under the icon when the tray sits at the top (macOS menu bar, top
 * panels), above it when at the bottom (the Windows taskbar), beside it when the taskbar is on a
 * side; always inside the work area. Linux trays report no bounds (and AppIndicator no clicks,
 * B32): the popover then goes to the work area's top-right corner.
 */

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export const POPOVER_SIZE = { width: 380, height: 560 } as const;
/** Space between the icon and the popover. */
const GAP = 4;

export function popoverPosition(tray: Rect, workArea: Rect, size: { width: number; height: number } = POPOVER_SIZE): { x: number; y: number } {
  const clampX = (x: number) => Math.round(Math.min(Math.max(x, workArea.x), workArea.x + workArea.width - size.width));
  const clampY = (y: number) => Math.round(Math.min(Math.max(y, workArea.y), workArea.y + workArea.height - size.height));
  if (tray.width === 0 && tray.height === 0) return { x: clampX(workArea.x + workArea.width - size.width - GAP), y: clampY(workArea.y + GAP) };

  const cx = tray.x + tray.width / 2;
  const cy = tray.y + tray.height / 2;
  // A taskbar on the left or right: the icon is outside the work area on that side.
  if (tray.x + tray.width <= workArea.x) return { x: clampX(workArea.x + GAP), y: clampY(cy - size.height / 2) };
  if (tray.x >= workArea.x + workArea.width) return { x: clampX(workArea.x + workArea.width - size.width - GAP), y: clampY(cy - size.height / 2) };
  const atTop = cy < workArea.y + workArea.height / 2;
  return {
    x: clampX(cx - size.width / 2),
    y: clampY(atTop ? tray.y + tray.height + GAP : tray.y - size.height - GAP),
  };
}
