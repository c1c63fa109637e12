import type { ManifestCell } from '../record/index.js';
import { canonicalJson } from '../util/canonical-json.js';

/** Parameters that have had their own columns in choices.csv and stats.csv from the start. */
const BUILT_IN = new Set(['model', 'temperature', 'top_p', 'n']);

/** A grid axis: a request parameter whose value differs between the run's cells. */
export interface GridAxis {
  /** The request parameter. */
  param: string;
  /**
   * Its column in choices.csv, stats.csv and summary.json's cells: the parameter's name, or `param_<name>` when a
   * report already has a column of that name (`stop` is a finish_reason count in stats.csv: `param_stop`).
   */
  column: string;
  /** model, temperature, top_p and n: the column is there in every run already, so no new one is added. */
  builtIn: boolean;
  /** The prompt-variant axis (`prompts:`): its values are the cells' `prompt`, not a request parameter. */
  prompt?: true;
}

export type AxisValue = string | number | boolean | null;

/**
 * The grid's axes, from the cells alone (run.json), so a report rebuilt from an old run gets them too. A
 * parameter with one value in every cell is not an axis. Order: as the parameters first appear in the cells.
 */
export function gridAxes(cells: readonly ManifestCell[], reserved: ReadonlySet<string>): GridAxis[] {
  const keys: string[] = [];
  for (const c of cells) for (const k of Object.keys(c.params)) if (!keys.includes(k)) keys.push(k);
  const axes: GridAxis[] = [];
  // A run with prompt variants always names the variant, even with one: the cell ids do too.
  if (cells.some((c) => c.prompt !== undefined)) axes.push({ param: 'prompt', builtIn: false, prompt: true, column: reserved.has('prompt') ? 'param_prompt' : 'prompt' });
  for (const param of keys) {
    const first = canonicalJson(cells[0]?.params[param] ?? null);
    if (cells.every((c) => canonicalJson(c.params[param] ?? null) === first)) continue;
    const builtIn = BUILT_IN.has(param);
    const column = builtIn || !(reserved.has(param) || axes.some((a) => a.column === param)) ? param : `param_${param}`;
    axes.push({ param, builtIn, column });
  }
  return axes;
}

/**
 * Each cell's value of each axis, readable: numbers, strings and booleans as they are, unset as null,
 * response_format as its type (`json_schema:<name>` with a schema name), other objects and arrays as compact JSON.
 * Two different values that would read the same (two schemas of one name) get `#2`, `#3`, …: a readable value
 * never stands for two settings, so grouping by these columns never pools distinct cells.
 */
export function axisValues(cells: readonly ManifestCell[], axes: readonly GridAxis[]): Array<Record<string, AxisValue>> {
  const out = cells.map(() => ({}) as Record<string, AxisValue>);
  for (const axis of axes) {
    const labels = new Map<string, AxisValue>();
    const used = new Map<AxisValue, number>();
    cells.forEach((c, i) => {
      const raw = axis.prompt ? c.prompt : c.params[axis.param];
      const key = canonicalJson(raw ?? null);
      let label = labels.get(key);
      if (label === undefined) {
        label = readable(axis.param, raw);
        const count = (used.get(label) ?? 0) + 1;
        used.set(label, count);
        if (count > 1) label = `${String(label)}#${count}`;
        labels.set(key, label);
      }
      out[i]![axis.column] = label;
    });
  }
  return out;
}

function readable(param: string, v: unknown): AxisValue {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (param === 'response_format' && typeof (v as { type?: unknown }).type === 'string') {
    const name = (v as { json_schema?: { name?: unknown } }).json_schema?.name;
    const type = (v as { type: string }).type;
    return typeof name === 'string' ? `${type}:${name}` : type;
  }
  return JSON.stringify(v);
}
