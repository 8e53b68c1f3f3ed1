/**
 * The mirrored-output format (version 1, docs/kernel.md), typed and checked: the same
 * types and the same field table as `jupyter_realtime/mirror_format.py`. Anyone who may
 * publish to a channel can send anything there, so the watch page checks each message
 * with `parseMirrorMessage` before it uses a field; a message that fails is shown as text.
 * `tests/fixtures/mirrored_output.json` holds the messages both sides must accept and
 * refuse (`src/test/watch.test.ts`, `tests/test_mirror_format.py`).
 *
 * Public names: the message types, `MirrorMessage`, `FIELDS`, `parseMirrorMessage`.
 */

type Bundle = Record<string, unknown>;

interface Base {
  cell?: string;
}
export interface CellStart extends Base {
  type: 'cell_start';
  v?: number;
  execution_count?: number | null;
  code?: string;
  time?: number;
}
export interface Stream extends Base {
  type: 'stream';
  name?: 'stdout' | 'stderr';
  text?: string;
  skipped?: Record<string, number>;
}
export interface DisplayData extends Base {
  type: 'display_data' | 'update_display_data';
  data?: Bundle;
  metadata?: Record<string, unknown>;
  display_id?: string | null;
  truncated?: Record<string, number>;
}
export interface ExecuteResult extends Base {
  type: 'execute_result';
  data?: Bundle;
  metadata?: Record<string, unknown>;
  execution_count?: number | null;
  truncated?: Record<string, number>;
}
export interface ClearOutput extends Base {
  type: 'clear_output';
  wait?: boolean;
}
export interface ErrorOutput extends Base {
  type: 'error';
  ename?: string;
  evalue?: string;
  traceback?: string[];
}
export interface CellEnd extends Base {
  type: 'cell_end';
  status?: string;
  execution_count?: number | null;
  duration?: number;
}
export interface ProgressMessage extends Base {
  type: 'progress';
  bar?: string;
  desc?: string | null;
  n?: number;
  total?: number | null;
  unit?: string;
  unit_scale?: boolean | number;
  rate?: number | null;
  elapsed?: number | null;
  eta?: number | null;
  postfix?: string;
  done?: boolean;
  time?: number;
}
/** A message of a type this version does not know (later versions only add types). */
export interface LaterMessage extends Base {
  type: string;
  [field: string]: unknown;
}

export type MirrorMessage =
  | CellStart
  | Stream
  | DisplayData
  | ExecuteResult
  | ClearOutput
  | ErrorOutput
  | CellEnd
  | ProgressMessage;

type Kind =
  | 'str'
  | 'str?'
  | 'int'
  | 'int?'
  | 'num'
  | 'num?'
  | 'bool'
  | 'bool|num'
  | 'bundle'
  | 'object'
  | 'lines'
  | 'stream_name';

/** For each known type, its fields and their kinds; every field is optional. */
export const FIELDS: Record<string, Record<string, Kind>> = {
  cell_start: { v: 'int', execution_count: 'int?', code: 'str', time: 'num' },
  stream: { name: 'stream_name', text: 'str', skipped: 'object' },
  display_data: { data: 'bundle', metadata: 'object', display_id: 'str?', truncated: 'object' },
  update_display_data: { data: 'bundle', metadata: 'object', display_id: 'str?', truncated: 'object' },
  execute_result: { data: 'bundle', metadata: 'object', execution_count: 'int?', truncated: 'object' },
  clear_output: { wait: 'bool' },
  error: { ename: 'str', evalue: 'str', traceback: 'lines' },
  cell_end: { status: 'str', execution_count: 'int?', duration: 'num' },
  progress: { bar: 'str', desc: 'str?', n: 'num', total: 'num?', unit: 'str', unit_scale: 'bool|num', rate: 'num?', elapsed: 'num?', eta: 'num?', postfix: 'str', done: 'bool', time: 'num' }
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function has(kind: Kind, value: unknown): boolean {
  if (kind.endsWith('?') && value === null) {
    return true;
  }
  const number = typeof value === 'number' && Number.isFinite(value);
  switch (kind.replace('?', '')) {
    case 'str':
      return typeof value === 'string';
    case 'int':
      return number && Number.isInteger(value);
    case 'num':
      return number;
    case 'bool':
      return typeof value === 'boolean';
    case 'bool|num':
      return typeof value === 'boolean' || number;
    case 'object':
    case 'bundle':
      return isObject(value);
    case 'lines':
      return Array.isArray(value) && value.every(line => typeof line === 'string');
    case 'stream_name':
      return value === 'stdout' || value === 'stderr';
    default:
      throw new Error(`unknown field kind ${kind}`);
  }
}

/**
 * `data` when it is a mirrored message whose known fields all have their types (a message
 * of an unknown type is returned as it is), else null.
 */
export function parseMirrorMessage(data: unknown): MirrorMessage | LaterMessage | null {
  if (!isObject(data) || typeof data.type !== 'string') {
    return null;
  }
  if ('cell' in data && typeof data.cell !== 'string') {
    return null;
  }
  const fields = FIELDS[data.type];
  if (fields === undefined) {
    return data as LaterMessage;
  }
  for (const [name, kind] of Object.entries(fields)) {
    if (name in data && !has(kind, data[name])) {
      return null;
    }
  }
  return data as unknown as MirrorMessage;
}
