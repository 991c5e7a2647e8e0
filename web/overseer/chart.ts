// The throughput charts (uPlot): jobs completed and failed per second over the last minutes
// (live), or per minute over the last hours (the history kept in Redis).

import uPlot from 'uplot';
import type { Snapshot } from './live.js';

export class ThroughputChart {
  private plot: uPlot | undefined;

  /** `unit` names the y axis; `step` is the seconds between two values (start is in seconds too). */
  constructor(
    private readonly el: HTMLElement,
    private readonly unit = 'jobs / s',
    private readonly step = 1,
  ) {}

  update(series: Snapshot['throughput']): void {
    const xs = series.completed.map((_, i) => series.start + i * this.step);
    const data: uPlot.AlignedData = [xs, series.completed, series.failed];
    if (this.plot) {
      this.plot.setData(data);
      return;
    }
    this.plot = new uPlot(
      {
        width: Math.max(300, this.el.clientWidth || 800),
        height: 180,
        legend: { show: true },
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [{}, { label: this.unit, size: 50 }],
        series: [
          {},
          { label: 'completed', stroke: '#2da44e', fill: 'rgba(45,164,78,0.12)', width: 1.5 },
          { label: 'failed', stroke: '#cf222e', fill: 'rgba(207,34,46,0.12)', width: 1.5 },
        ],
      },
      data,
      this.el,
    );
  }

  resize(): void {
    if (this.plot) this.plot.setSize({ width: Math.max(300, this.el.clientWidth), height: 180 });
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = undefined;
  }
}
