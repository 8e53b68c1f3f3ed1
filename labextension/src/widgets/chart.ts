/**
 * `LiveChart`: a streaming line chart (uPlot) of numeric fields of a channel's JSON
 * publications. Each publication is one point (or a list of points): `x` names the field
 * of the x axis (default: the server's timestamp, as a time axis), `y` the fields plotted.
 * At most `window` points are kept; the oldest drop off. Redraws are batched to one per
 * animation frame, so a fast producer costs one draw per frame, not one per point.
 *
 * Public names: `LiveChartModel`, `LiveChartView`.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

import { ChannelModel, ChannelView, type Publication } from './base.js';
import { PointWindow, toNumber } from './logic.js';

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2'];

export class LiveChartModel extends ChannelModel {
  defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      _model_name: 'LiveChartModel',
      _view_name: 'LiveChartView',
      x: null,
      y: [],
      window: 500,
      height: 240,
      title: ''
    };
  }
}

export class LiveChartView extends ChannelView {
  private plot: uPlot | null = null;
  private points!: PointWindow;
  private frame = 0;
  private resize: ResizeObserver | null = null;
  private holder!: HTMLDivElement;

  protected build(): void {
    this.el.classList.add('jp-realtime-chart');
    this.holder = document.createElement('div');
    this.holder.className = 'jp-realtime-chart-plot';
    this.el.appendChild(this.holder);
    const ys: string[] = this.model.get('y');
    this.points = new PointWindow(ys.length, Math.max(2, this.model.get('window')));
    this.listenTo(this.model, 'change:window', () => {
      this.points.size = Math.max(2, this.model.get('window'));
      this.points.trim();
      this.redraw();
    });
  }

  protected historyLimit(): number {
    return Math.min(1000, Math.max(2, this.model.get('window')));
  }

  protected onReady(): void {
    // uPlot needs the view in the page to measure it: build it once the view is attached.
    requestAnimationFrame(() => this.createPlot());
  }

  protected onPublication(publication: Publication): void {
    const items = Array.isArray(publication.data) ? publication.data : [publication.data];
    const xKey: string | null = this.model.get('x');
    const yKeys: string[] = this.model.get('y');
    for (const item of items) {
      if (item === null || typeof item !== 'object') {
        continue;
      }
      const record = item as Record<string, unknown>;
      const x = xKey ? toNumber(record[xKey]) : publication.ts;
      if (x === null) {
        continue;
      }
      this.points.push(
        x,
        yKeys.map(key => toNumber(record[key]))
      );
    }
    this.redraw();
  }

  remove(): void {
    cancelAnimationFrame(this.frame);
    this.resize?.disconnect();
    this.plot?.destroy();
    super.remove();
  }

  private createPlot(): void {
    if (this.plot !== null) {
      return;
    }
    const yKeys: string[] = this.model.get('y');
    const width = Math.max(200, this.el.clientWidth || 600);
    const options: uPlot.Options = {
      title: this.model.get('title') || undefined,
      width,
      height: this.model.get('height'),
      scales: { x: { time: !this.model.get('x') } },
      series: [
        { label: this.model.get('x') || 'time' },
        ...yKeys.map((key, i) => ({ label: key, stroke: COLORS[i % COLORS.length], width: 1.5 }))
      ],
      legend: { live: false }
    };
    this.plot = new uPlot(options, this.points.columns as uPlot.AlignedData, this.holder);
    this.el.dataset.points = String(this.points.columns[0].length);
    this.resize = new ResizeObserver(() => {
      const w = this.el.clientWidth;
      if (this.plot && w > 0 && Math.abs(w - this.plot.width) > 2) {
        this.plot.setSize({ width: w, height: this.model.get('height') });
      }
    });
    this.resize.observe(this.el);
  }

  private redraw(): void {
    if (this.frame !== 0 || this.plot === null) {
      return;
    }
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.plot?.setData(this.points.columns as uPlot.AlignedData);
      this.el.dataset.points = String(this.points.columns[0].length);
    });
  }
}
