/**
 * The widget views and models of `jupyter_realtime.widgets`, registered with the Jupyter
 * widget manager under the module name `jupyter-realtime`.
 *
 * Public names: `widgetsPlugin`, `WIDGET_CLASSES`.
 */
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';

import { MODULE_NAME, MODULE_VERSION } from './base.js';
import { ChatModel, ChatView } from './chat.js';
import { LiveChartModel, LiveChartView } from './chart.js';
import { ChannelLinkModel, ChannelLinkView } from './link.js';
import { LiveLogModel, LiveLogView } from './log.js';
import { LiveProgressModel, LiveProgressView } from './progress.js';
import { LiveValueModel, LiveValueView } from './value.js';
import { SharedCellModel, SharedCellView } from './sharedcell.js';

/** What the widget manager looks up by `_model_name` and `_view_name`. */
export const WIDGET_CLASSES = {
  ChannelLinkModel,
  ChannelLinkView,
  ChatModel,
  ChatView,
  LiveChartModel,
  LiveChartView,
  LiveLogModel,
  LiveLogView,
  LiveProgressModel,
  LiveProgressView,
  LiveValueModel,
  LiveValueView,
  SharedCellModel,
  SharedCellView
};

export const widgetsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-realtime:widgets',
  description: 'The views of the jupyter-realtime widgets: LiveValue, LiveLog, LiveChart, LiveProgress, Chat, ChannelLink, SharedCell.',
  autoStart: true,
  requires: [IJupyterWidgetRegistry],
  activate: (_app: JupyterFrontEnd, registry: IJupyterWidgetRegistry): void => {
    registry.registerWidget({
      name: MODULE_NAME,
      version: MODULE_VERSION,
      exports: WIDGET_CLASSES
    });
  }
};
