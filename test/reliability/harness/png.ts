/**
 * A small PNG writer and line-chart renderer for the reliability report: enough to draw the
 * soak's throughput and memory without a browser or a native canvas. PNG: 8-bit RGB, one IDAT
 * deflated with node:zlib, filter type 0 on every row (RFC 2083).
 */
import { deflateSync } from 'node:zlib';

export type Rgb = readonly [number, number, number];

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** `rgb` holds width × height × 3 bytes, row by row from the top. */
export function encodePng(width: number, height: number, rgb: Uint8Array): Buffer {
  if (rgb.length !== width * height * 3) throw new RangeError('pixel data does not match the size');
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  ihdr[10] = 0; // deflate
  ihdr[11] = 0; // adaptive filtering (per-row filter byte)
  ihdr[12] = 0; // no interlace
  const stride = width * 3;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0;
    raw.set(rgb.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** 5×7 glyphs, one 5-bit row each from the top (bit 4 = leftmost column). Lower case draws as upper. */
const FONT: Record<string, readonly number[]> = {
  '0': [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
  '1': [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
  '2': [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
  '3': [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
  '4': [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
  '5': [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
  '6': [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
  '7': [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
  '8': [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
  '9': [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
  A: [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
  B: [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
  C: [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
  D: [0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c],
  E: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
  F: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
  G: [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f],
  H: [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
  I: [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
  J: [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
  K: [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
  L: [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
  M: [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
  N: [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
  O: [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  P: [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
  Q: [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d],
  R: [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
  S: [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
  T: [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
  U: [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  V: [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
  W: [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a],
  X: [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
  Y: [0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04],
  Z: [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
  ' ': [0, 0, 0, 0, 0, 0, 0],
  '.': [0, 0, 0, 0, 0, 0x0c, 0x0c],
  ',': [0, 0, 0, 0, 0x0c, 0x04, 0x08],
  ':': [0, 0x0c, 0x0c, 0, 0x0c, 0x0c, 0],
  '/': [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
  '-': [0, 0, 0, 0x1f, 0, 0, 0],
  '+': [0, 0x04, 0x04, 0x1f, 0x04, 0x04, 0],
  '=': [0, 0, 0x1f, 0, 0x1f, 0, 0],
  '(': [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
  ')': [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
  '%': [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
  _: [0, 0, 0, 0, 0, 0, 0x1f],
  '<': [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
  '>': [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
};

export const GLYPH_WIDTH = 6;
export const GLYPH_HEIGHT = 8;

export class Bitmap {
  readonly data: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [255, 255, 255],
  ) {
    this.data = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.data.set(background, i * 3);
  }

  set(x: number, y: number, c: Rgb): void {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= this.width || yi >= this.height) return;
    this.data.set(c, (yi * this.width + xi) * 3);
  }

  fillRect(x: number, y: number, w: number, h: number, c: Rgb): void {
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) this.set(x + i, y + j, c);
  }

  /** Bresenham, `thickness` pixels wide (a square pen). */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thickness = 1): void {
    let x = Math.round(x0);
    let y = Math.round(y0);
    const xe = Math.round(x1);
    const ye = Math.round(y1);
    const dx = Math.abs(xe - x);
    const dy = -Math.abs(ye - y);
    const sx = x < xe ? 1 : -1;
    const sy = y < ye ? 1 : -1;
    let err = dx + dy;
    const half = Math.floor(thickness / 2);
    for (;;) {
      this.fillRect(x - half, y - half, thickness, thickness, c);
      if (x === xe && y === ye) break;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y += sy;
      }
    }
  }

  /** Draws `text` with its top-left corner at (x, y); returns its width in pixels. */
  text(x: number, y: number, text: string, c: Rgb, scale = 1): number {
    let cx = x;
    for (const ch of text) {
      const glyph = FONT[ch] ?? FONT[ch.toUpperCase()] ?? FONT[' '];
      for (let row = 0; row < 7; row++) {
        for (let col = 0; col < 5; col++) {
          if (glyph[row] & (0x10 >> col)) this.fillRect(cx + col * scale, y + row * scale, scale, scale, c);
        }
      }
      cx += GLYPH_WIDTH * scale;
    }
    return cx - x;
  }

  png(): Buffer {
    return encodePng(this.width, this.height, this.data);
  }
}

export interface ChartSeries {
  label: string;
  color: Rgb;
  points: readonly (readonly [number, number])[];
}

export interface ChartPanel {
  title: string;
  series: ChartSeries[];
  /** Force the axis to start at zero (rates, counts). */
  fromZero?: boolean;
}

/** Axis ticks at 1, 2 or 5 × 10^k, about `count` of them. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

const AXIS: Rgb = [60, 60, 60];
const GRID: Rgb = [225, 225, 225];
const INK: Rgb = [20, 20, 20];

function label(v: number): string {
  if (Math.abs(v) >= 10_000) return `${Math.round(v / 1000)}K`;
  return Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) < 1 ? 2 : 1);
}

/** Panels stacked vertically over one shared x axis (seconds). */
export function renderChart(
  panels: ChartPanel[],
  opts: { width?: number; panelHeight?: number; xLabel?: string } = {},
): Bitmap {
  const width = opts.width ?? 960;
  const panelHeight = opts.panelHeight ?? 260;
  const bmp = new Bitmap(width, panelHeight * panels.length);
  const left = 80;
  const right = 20;
  const top = 34;
  const bottom = 40;
  const xs = panels.flatMap((p) => p.series.flatMap((s) => s.points.map((pt) => pt[0])));
  const xMin = Math.min(...xs, 0);
  const xMax = Math.max(...xs, xMin + 1);
  panels.forEach((panel, i) => {
    const y0 = i * panelHeight;
    const plotW = width - left - right;
    const plotH = panelHeight - top - bottom;
    const ys = panel.series.flatMap((s) => s.points.map((pt) => pt[1]));
    let yMin = panel.fromZero ? 0 : Math.min(...ys);
    let yMax = Math.max(...ys, yMin + 1);
    const pad = (yMax - yMin) * 0.08;
    yMax += pad;
    if (!panel.fromZero) yMin = Math.max(0, yMin - pad);
    const px = (x: number) => left + ((x - xMin) / (xMax - xMin)) * plotW;
    const py = (y: number) => y0 + top + plotH - ((y - yMin) / (yMax - yMin)) * plotH;
    for (const t of niceTicks(yMin, yMax)) {
      bmp.line(left, py(t), left + plotW, py(t), GRID);
      const text = label(t);
      bmp.text(left - 8 - text.length * GLYPH_WIDTH * 2, py(t) - 5, text, AXIS, 2);
    }
    for (const t of niceTicks(xMin, xMax, 8)) {
      bmp.line(px(t), y0 + top, px(t), y0 + top + plotH, GRID);
      const text = label(t);
      bmp.text(px(t) - (text.length * GLYPH_WIDTH * 2) / 2, y0 + top + plotH + 8, text, AXIS, 2);
    }
    bmp.line(left, y0 + top, left, y0 + top + plotH, AXIS);
    bmp.line(left, y0 + top + plotH, left + plotW, y0 + top + plotH, AXIS);
    let tx = left + bmp.text(left, y0 + 10, panel.title, INK, 2) + 24;
    for (const s of panel.series) {
      bmp.fillRect(tx, y0 + 12, 14, 10, s.color);
      tx += 20 + bmp.text(tx + 20, y0 + 12, s.label, INK, 2) + 20;
      for (let k = 1; k < s.points.length; k++) {
        const [ax, ay] = s.points[k - 1];
        const [bx, by] = s.points[k];
        bmp.line(px(ax), py(ay), px(bx), py(by), s.color, 2);
      }
    }
    if (i === panels.length - 1 && opts.xLabel) {
      bmp.text(
        left + plotW - opts.xLabel.length * GLYPH_WIDTH * 2,
        y0 + panelHeight - 14,
        opts.xLabel,
        AXIS,
        2,
      );
    }
  });
  return bmp;
}
