/**
 * How a packet's decoded block is kept in a row, the same in every store: the layout as
 * comma-separated RegIDs, the values as a JSON array (sample-major), one quality letter per value.
 */
import type { Reading, SampleBlock } from '../ports/storage.js';
import type { Quality } from '../protocol/codecs/types.js';

export interface BlockRow {
  id: number;
  time: number;
  step: number;
  samples: number;
  upload_id: number;
  packet_idx: number;
  layout: string;
  raw: string;
  quality: string;
}

const QUALITY_CHARS: Record<Quality, string> = { exact: 'e', approximate: 'a', ambiguous: 'b', missing: 'm' };
const CHAR_QUALITY: Record<string, Quality> = { e: 'exact', a: 'approximate', b: 'ambiguous', m: 'missing' };

export function encodeQualities(q: readonly Quality[]): string {
  let s = '';
  for (const x of q) s += QUALITY_CHARS[x];
  return s;
}

export function decodeQuality(c: string): Quality {
  return CHAR_QUALITY[c] ?? 'missing';
}

export function blockFromRow(r: Omit<BlockRow, 'id' | 'upload_id' | 'packet_idx'>): SampleBlock {
  return {
    time: r.time,
    step: r.step,
    samples: r.samples,
    layout: r.layout.split(',').map(Number),
    values: JSON.parse(r.raw) as (number | null)[],
    quality: [...r.quality].map(decodeQuality),
  };
}

/** The readings of a block row from position `fromPos` on, each with its position. */
export function* blockReadings(row: BlockRow, fromPos: number): Generator<[number, Reading]> {
  const layout = row.layout.split(',').map(Number);
  const raw = JSON.parse(row.raw) as (number | null)[];
  const width = layout.length;
  for (let i = fromPos; i < raw.length; i++) {
    const s = Math.floor(i / width);
    yield [
      i,
      {
        time: row.time + s * row.step,
        register: layout[i % width],
        raw: raw[i],
        quality: decodeQuality(row.quality[i]),
        uploadId: String(row.upload_id),
        packetIndex: row.packet_idx,
        sampleIndex: s,
      },
    ];
  }
}
