// The tray popover's place on the screen, for the trays people have (numbers as Electron reports them).
import { describe, expect, it } from 'vitest';
import { popoverPosition } from './popover.js';

const size = { width: 380, height: 560 };

describe('the tray popover', () => {
  it('macOS menu bar: under the icon, centred on it', () => {
    const screen = { x: 0, y: 25, width: 1440, height: 875 };
    expect(popoverPosition({ x: 1200, y: 0, width: 22, height: 24 }, screen, size)).toEqual({ x: 1021, y: 28 });
  });

  it('near the screen edge: pushed back inside the work area', () => {
    const screen = { x: 0, y: 25, width: 1440, height: 875 };
    expect(popoverPosition({ x: 1410, y: 0, width: 22, height: 24 }, screen, size)).toEqual({ x: 1060, y: 28 });
  });

  it('Windows taskbar at the bottom: above the icon', () => {
    const screen = { x: 0, y: 0, width: 1920, height: 1040 };
    expect(popoverPosition({ x: 1700, y: 1044, width: 32, height: 32 }, screen, size)).toEqual({ x: 1526, y: 480 });
  });

  it('a taskbar on the left or right: beside it, level with the icon', () => {
    expect(popoverPosition({ x: 10, y: 900, width: 32, height: 32 }, { x: 62, y: 0, width: 1858, height: 1080 }, size)).toEqual({ x: 66, y: 520 });
    expect(popoverPosition({ x: 1880, y: 300, width: 32, height: 32 }, { x: 0, y: 0, width: 1858, height: 1080 }, size)).toEqual({ x: 1474, y: 36 });
  });

  it('a second display to the left: stays on the tray’s display', () => {
    const screen = { x: -1920, y: 0, width: 1920, height: 1040 };
    expect(popoverPosition({ x: -50, y: 1044, width: 32, height: 32 }, screen, size)).toEqual({ x: -380, y: 480 });
  });

  it('a tray with no bounds (Linux): the top-right corner of the work area', () => {
    expect(popoverPosition({ x: 0, y: 0, width: 0, height: 0 }, { x: 0, y: 32, width: 1920, height: 1048 }, size)).toEqual({ x: 1536, y: 36 });
  });
});
