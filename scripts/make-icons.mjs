#!/usr/bin/env node
/**
 * Writes the app icon (build/icon.png, 512×512) and the tray icons (assets/tray-<state>.png, @2x,
 * and the macOS `Template` variants that follow the menu bar's colour) as plain PNGs: a padlock
 * drawn with supersampled shapes, encoded with node:zlib. No image dependencies.
 *
 * Placeholder artwork until a designer's icons land; rerun with `node scripts/make-icons.mjs`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

/** RGBA pixels (Uint8Array, width*height*4) → PNG bytes. */
function encodePng(width, height, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type RGBA
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0; // filter: none
    Buffer.from(rgba.buffer, y * width * 4, width * 4).copy(raw, y * (width * 4 + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const inRoundRect = (x, y, x0, y0, x1, y1, r) => {
  if (x < x0 || x > x1 || y < y0 || y > y1) return false;
  const cx = Math.min(Math.max(x, x0 + r), x1 - r);
  const cy = Math.min(Math.max(y, y0 + r), y1 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
};

/**
 * Padlock in unit coordinates (0..1): 'body', 'shackle', 'keyhole' or null. `open`: the shackle
 * lifted with its right leg out of the body (unlocked: access is active).
 */
function padlock(x, y, open = false) {
  if (inRoundRect(x, y, 0.47, 0.56, 0.53, 0.74, 0.03) || (x - 0.5) ** 2 + (y - 0.56) ** 2 <= 0.055 ** 2) return 'keyhole';
  if (inRoundRect(x, y, 0.2, 0.42, 0.8, 0.9, 0.08)) return 'body';
  const lift = open ? 0.1 : 0;
  const top = 0.36 - lift;
  const d = Math.hypot(x - 0.5, y - top);
  if (y <= top && d >= 0.15 && d <= 0.24) return 'shackle';
  const leftLeg = x >= 0.26 && x <= 0.35 && y > top && y < 0.45;
  const rightLeg = x >= 0.65 && x <= 0.74 && y > top && y < (open ? top + 0.06 : 0.45);
  if (leftLeg || rightLeg) return 'shackle';
  return null;
}

/**
 * The state's mark at the top right, so states differ in shape and not only in colour (macOS
 * template images are one colour; colour-blind people): `pending` a ring (someone waits for me),
 * `attention` a solid dot; each cut out of the padlock with a gap. 'mark', 'gap' or null.
 */
function mark(state, x, y) {
  if (state !== 'pending' && state !== 'attention') return null;
  const d = Math.hypot(x - 0.8, y - 0.2);
  if (d > 0.2) return null;
  if (d > 0.16) return 'gap';
  if (state === 'pending' && d < 0.085) return 'gap';
  return 'mark';
}

/** Renders `paint(x, y) → [r,g,b,a] | null` at `size`, 4×4 supersampled. */
function render(size, paint) {
  const out = new Uint8Array(size * size * 4);
  const ss = 4;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < ss; sy++) {
        for (let sx = 0; sx < ss; sx++) {
          const c = paint((px + (sx + 0.5) / ss) / size, (py + (sy + 0.5) / ss) / size);
          if (!c) continue;
          const ca = c[3] / 255;
          r += c[0] * ca; g += c[1] * ca; b += c[2] * ca; a += ca;
        }
      }
      const i = (py * size + px) * 4;
      if (a > 0) {
        out[i] = Math.round(r / a); out[i + 1] = Math.round(g / a); out[i + 2] = Math.round(b / a);
        out[i + 3] = Math.round((a / (ss * ss)) * 255);
      }
    }
  }
  return out;
}

function write(rel, size, paint) {
  const file = join(root, rel);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, encodePng(size, size, render(size, paint)));
  console.log(`wrote ${rel} (${size}x${size})`);
}

// App icon: a white padlock on a rounded indigo square.
write('build/icon.png', 512, (x, y) => {
  if (!inRoundRect(x, y, 0.04, 0.04, 0.96, 0.96, 0.2)) return null;
  const part = padlock((x - 0.5) * 1.25 + 0.5, (y - 0.5) * 1.25 + 0.5);
  if (part === 'body' || part === 'shackle') return [255, 255, 255, 255];
  return [67, 56, 202, 255];
});

// Tray: a padlock coloured by state, with the state's mark (open shackle for active); the Template
// variant is black with alpha (macOS tints it).
const STATES = { idle: [107, 114, 128], pending: [217, 119, 6], active: [22, 163, 74], attention: [220, 38, 38] };
const trayPaint = (state, ink) => (x, y) => {
  const m = mark(state, x, y);
  if (m === 'mark') return ink;
  if (m === 'gap') return null;
  const part = padlock(x, y, state === 'active');
  return part === 'body' || part === 'shackle' ? ink : null;
};
for (const [state, rgb] of Object.entries(STATES)) {
  for (const [suffix, size] of [['', 16], ['@2x', 32]]) {
    write(`assets/tray-${state}${suffix}.png`, size, trayPaint(state, [...rgb, 255]));
    write(`assets/tray-${state}Template${suffix}.png`, size, trayPaint(state, [0, 0, 0, 255]));
  }
}
