/**
 * The status-bar item: the state of the page's shared realtime connection and the
 * transport in use (`Realtime: live · ws`). It shows `idle` until something on the page
 * (a widget view) uses the connection: the item itself never opens one.
 *
 * Public names: `statusPlugin`, `RealtimeStatus`.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Widget } from '@lumino/widgets';

import type { ConnectionState } from './client/index.js';
import { describeState, onSharedClient } from './shared.js';

export class RealtimeStatus extends Widget {
  constructor() {
    super();
    this.addClass('jp-realtime-status');
    this.node.textContent = 'Realtime: idle';
    this.node.title = 'No realtime connection yet: opened by the first live widget';
    this.node.dataset.state = 'idle';
    onSharedClient(client => {
      this.showState(client.state);
      client.on('state', state => this.showState(state));
    });
  }

  private showState(state: ConnectionState): void {
    const { label, title } = describeState(state);
    this.node.textContent = `Realtime: ${label}`;
    this.node.title = title;
    this.node.dataset.state = state.state;
    this.node.dataset.transport = state.state === 'connected' ? state.transport : '';
  }
}

export const statusPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-realtime:status',
  description: 'Shows the realtime connection state and transport in the status bar.',
  autoStart: true,
  optional: [IStatusBar],
  activate: (_app: JupyterFrontEnd, statusBar: IStatusBar | null): void => {
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
