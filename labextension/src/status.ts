/**
 * The status-bar item: the page's realtime connections, every one of them (the shared
 * connection and those of views forced onto a transport): `Realtime: live · ws` for one,
 * `Realtime: 4 live · ws, sse, stream, poll` for several, `Realtime: idle` when none is
 * open. The item itself never opens one; the tooltip lists each connection.
 *
 * `@jupyterlab/statusbar` is loaded when the plugin activates, not imported by the
 * extension's entry: Voilà's page does not share it, and a shared module its page lacks
 * makes the whole entry fail there, widget models included. So the plugin finds
 * `IStatusBar` itself (`resolveOptionalService`) and does nothing where the package or the
 * status bar is missing.
 *
 * Public names: `statusPlugin`, `RealtimeStatus`.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Widget } from '@lumino/widgets';

import { connections, onConnections } from './shared.js';
import { SHORT, describeState, statusText, summarize } from './states.js';

export class RealtimeStatus extends Widget {
  private readonly stop: () => void;

  constructor() {
    super();
    this.addClass('jp-realtime-status');
    this.refresh();
    this.stop = onConnections(() => this.refresh());
  }

  dispose(): void {
    this.stop();
    super.dispose();
  }

  private refresh(): void {
    const entries = connections();
    const states = entries.map(entry => entry.client.state);
    const summary = summarize(states);
    this.node.textContent = `Realtime: ${statusText(states)}`;
    this.node.title =
      entries.length === 0
        ? 'No realtime connection: a live widget opens one'
        : entries
            .map(entry => {
              const which = entry.transports.length
                ? `forced ${entry.transports.map(name => SHORT[name]).join(', ')}`
                : 'shared';
              return `${which}: ${describeState(entry.client.state).title}`;
            })
            .join('\n');
    this.node.dataset.state = summary.state;
    this.node.dataset.connections = String(summary.total);
    this.node.dataset.live = String(summary.live);
    this.node.dataset.transport = summary.transports.join(',');
  }
}

export const statusPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-realtime:status',
  description: 'Shows the page\'s realtime connections, their state and transports, in the status bar.',
  autoStart: true,
  activate: async (app: JupyterFrontEnd): Promise<void> => {
    let token: typeof import('@jupyterlab/statusbar').IStatusBar;
    try {
      token = (await import('@jupyterlab/statusbar')).IStatusBar;
    } catch {
      return; // a page without JupyterLab's status bar package (Voilà)
    }
    const statusBar = await app.resolveOptionalService(token);
    if (!statusBar) {
      return;
    }
    statusBar.registerStatusItem('jupyter-realtime:status', {
      item: new RealtimeStatus(),
      align: 'left',
      rank: 10
    });
  }
};
