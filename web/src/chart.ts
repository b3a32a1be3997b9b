/**
 * A uPlot time chart of a few registers. Values the format could not carry exactly (approximate
 * or ambiguous) are drawn again as marker points of their own series, so they stand out.
 */
import uPlot from 'uplot';
import { h } from './dom';

export interface ChartSeries {
  register: string;
  unit: string | null;
  color: string;
}

export interface ChartRow {
  /** ms since the epoch */
  time: number;
  values: (number | null)[];
  /** 0 exact, 1 approximate, 2 ambiguous (per value) */
  flags: number[];
}

const FLAG_COLOR = '#d9480f';

export class TimeChart {
  readonly el: HTMLElement;
  private readonly plotEl: HTMLElement;
  private readonly empty: HTMLElement;
  private plot: uPlot | null = null;
  private rows: ChartRow[] = [];
  private observer: ResizeObserver;

  constructor(
    readonly title: string,
    private readonly series: ChartSeries[],
  ) {
    const id = `chart-${title.toLowerCase().replace(/\W+/g, '-')}`;
    this.plotEl = h('div', { class: 'plot', role: 'img', 'aria-label': `${title} chart` });
    this.empty = h('p', { class: 'muted empty' }, 'No readings in this range.');
    this.el = h(
      'figure',
      { class: 'chart', id, 'data-testid': id, 'data-points': '0' },
      h('figcaption', null, title),
      this.plotEl,
      this.empty,
    );
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(this.el);
  }

  private width(): number {
    return Math.max(260, this.plotEl.clientWidth || this.el.clientWidth || 600);
  }

  private resize(): void {
    this.plot?.setSize({ width: this.width(), height: 220 });
  }

  private data(): uPlot.AlignedData {
    const time = this.rows.map((r) => r.time / 1000);
    const cols: (number | null)[][] = [];
    this.series.forEach((_, i) => {
      cols.push(this.rows.map((r) => r.values[i]));
    });
    this.series.forEach((_, i) => {
      cols.push(this.rows.map((r) => (r.flags[i] > 0 ? r.values[i] : null)));
    });
    return [time, ...cols];
  }

  private build(): uPlot {
    const unit = this.series[0]?.unit ?? '';
    const opts: uPlot.Options = {
      width: this.width(),
      height: 220,
      cursor: { drag: { x: true, y: false } },
      legend: { live: false },
      scales: { x: { time: true } },
      axes: [{}, { label: unit, size: 56 }],
      series: [
        { label: 'time' },
        ...this.series.map((s) => ({
          label: `${s.register}${s.unit ? ` (${s.unit})` : ''}`,
          stroke: s.color,
          width: 1.5,
          spanGaps: false,
          points: { show: false },
        })),
        ...this.series.map((s) => ({
          label: `${s.register} ≈/?`,
          stroke: FLAG_COLOR,
          fill: FLAG_COLOR,
          width: 0,
          paths: () => null,
          points: { show: true, size: 7, stroke: FLAG_COLOR, fill: FLAG_COLOR },
        })),
      ],
    };
    return new uPlot(opts, this.data(), this.plotEl);
  }

  /** Replaces every row. */
  set(rows: ChartRow[]): void {
    this.rows = rows;
    this.refresh();
  }

  /** Adds rows newer than the last one; drops rows older than `keepFrom` (a sliding range). */
  append(rows: ChartRow[], keepFrom?: number): void {
    const last = this.rows.length ? this.rows[this.rows.length - 1].time : Number.NEGATIVE_INFINITY;
    const fresh = rows.filter((r) => r.time > last).sort((a, b) => a.time - b.time);
    if (fresh.length === 0) return;
    this.rows.push(...fresh);
    if (keepFrom !== undefined) {
      const first = this.rows.findIndex((r) => r.time >= keepFrom);
      if (first > 0) this.rows.splice(0, first);
    }
    this.refresh();
  }

  get lastTime(): number | null {
    return this.rows.length ? this.rows[this.rows.length - 1].time : null;
  }

  private refresh(): void {
    const points = this.rows.filter((r) => r.values.some((v) => v !== null)).length;
    this.el.dataset.points = String(points);
    this.el.dataset.flagged = String(this.rows.filter((r) => r.flags.some((f) => f > 0)).length);
    this.empty.hidden = points > 0;
    this.plotEl.hidden = points === 0;
    if (!this.plot) this.plot = this.build();
    else this.plot.setData(this.data());
  }

  destroy(): void {
    this.observer.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
