import { writeFile } from 'node:fs/promises';
import type { HistoryCheck, KeyCheck } from './check-history.js';
import { explainViolation, summaryLine, verdictLine } from './explain.js';
import { describeOperation, describeOrigin, formatScalar, type Operation } from './history.js';

/** Operations drawn per key; a longer history is drawn as a window around the problem. */
export const OPS_DRAWN_MAX = 400;
/** Keys drawn per page; the rest are listed by their verdict line only. */
export const KEYS_DRAWN_MAX = 20;

/** Options of {@link renderHtmlReport}. */
export interface HtmlReportOptions {
  readonly title?: string;
  readonly opsDrawnMax?: number;
  readonly keysDrawnMax?: number;
}

const GUTTER = 96;
const UNIT = 36;
const ROW = 36;
const BOX = 18;
const TOP = 10;
const CHAR_WIDTH = 6.7;

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 32px; }
pre { background: #f6f6f6; padding: 12px; overflow-x: auto; font-size: 12px; }
.timeline { overflow-x: auto; border: 1px solid #ddd; }
svg text { font: 11px ui-monospace, monospace; dominant-baseline: middle; }
.lane { stroke: #eee; } .proc { fill: #555; } .place { font-size: 9px; fill: #3a7d3a; }
.deadline { stroke: #b00020; stroke-dasharray: 2 3; }
.op rect { stroke: #666; stroke-width: 1; fill: #e8e8e8; }
.op.placed rect { fill: #cdeccd; stroke: #3a7d3a; }
.op.unordered rect { fill: #f8c9c9; stroke: #b00020; }
.op.blocking rect { stroke-width: 3; }
.op.unknown rect { stroke-dasharray: 5 3; }
.legend span { display: inline-block; padding: 1px 8px; margin-right: 8px; border: 1px solid #666; }
.legend .placed { background: #cdeccd; } .legend .unordered { background: #f8c9c9; border-color: #b00020; }
.legend .blocking { background: #f8c9c9; border: 3px solid #b00020; } .legend .unknown { border-style: dashed; }
`;

/** Text made safe for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A self-contained HTML page (inline CSS and SVG, no external assets) with the verdict of every key
 * and, for each key that is not linearizable or not decided, its history on a timeline with one
 * lane per process: the longest linearizable prefix in green (numbered in order), the operations
 * that could not be ordered next in red, operations of unknown outcome dashed and open-ended.
 */
export function renderHtmlReport(check: HistoryCheck, options: HtmlReportOptions = {}): string {
  const title = options.title ?? `Linearizability: ${check.source}`;
  const keysDrawnMax = options.keysDrawnMax ?? KEYS_DRAWN_MAX;
  const flagged = check.keys.filter((k) => k.verdict !== 'ok');
  const sections = flagged
    .slice(0, keysDrawnMax)
    .map((k) => renderKey(k, options.opsDrawnMax ?? OPS_DRAWN_MAX))
    .join('\n');
  const rest = flagged.slice(keysDrawnMax).map((k) => `<li>${escapeHtml(verdictLine(k))}</li>`);
  const body = [
    `<h1>${escapeHtml(title)}</h1>`,
    `<p><strong>${escapeHtml(summaryLine(check))}</strong></p>`,
    flagged.length === 0
      ? '<p>Every key is linearizable; there is nothing to draw.</p>'
      : '<p class="legend"><span class="placed">longest linearizable prefix</span>' +
        '<span class="unordered">cannot be ordered next</span><span class="blocking">must come next</span>' +
        '<span class="unknown">unknown outcome</span> R read · W write · D delete · A append · ' +
        'C compare-and-set (✗ failed) · #n place in the prefix · hover a box for details</p>',
    sections,
    rest.length > 0 ? `<h2>${rest.length} more keys not drawn</h2><ul>${rest.join('')}</ul>` : '',
  ];
  return (
    `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>${escapeHtml(title)}</title>\n` +
    `<style>${STYLE}</style>\n</head>\n<body>\n${body.join('\n')}\n</body>\n</html>\n`
  );
}

/** Writes {@link renderHtmlReport}'s page to `path`. */
export async function writeHtmlReport(
  path: string,
  check: HistoryCheck,
  options: HtmlReportOptions = {},
): Promise<void> {
  await writeFile(path, renderHtmlReport(check, options), 'utf8');
}

function renderKey(check: KeyCheck, opsDrawnMax: number): string {
  const ops = window(check, opsDrawnMax);
  const note =
    ops.length < check.operations.length
      ? `<p>Showing ${ops.length} of ${check.operations.length} operations, around the problem.</p>`
      : '';
  const text = check.violation === undefined ? verdictLine(check) : explainViolation(check);
  return (
    `<section>\n<h2>${escapeHtml(verdictLine(check))}</h2>\n<pre>${escapeHtml(text)}</pre>\n${note}` +
    `<div class="timeline">${renderTimeline(check, ops)}</div>\n</section>`
  );
}

/** The operations to draw: all of them, or `max` of them centred on the blocking operation. */
function window(check: KeyCheck, max: number): readonly Operation[] {
  const ops = check.operations;
  if (ops.length <= max) return ops;
  const focusId = check.violation?.blocking.id;
  const focus = focusId === undefined ? ops.length >> 1 : ops.findIndex((op) => op.id === focusId);
  const start = Math.min(Math.max(0, focus - (max >> 1)), ops.length - max);
  return ops.slice(start, start + max);
}

/** Horizontal positions: one column per distinct event time, so that only the order of events shows. */
interface Layout {
  readonly width: number;
  readonly height: number;
  readonly x: (time: number) => number;
  readonly laneY: (process: number) => number;
  readonly processes: readonly number[];
}

function layout(ops: readonly Operation[]): Layout {
  const times = [...new Set(ops.flatMap((op) => (Number.isFinite(op.ret) ? [op.call, op.ret] : [op.call])))];
  times.sort((a, b) => a - b);
  const rank = new Map(times.map((t, i) => [t, i]));
  const processes = [...new Set(ops.map((op) => op.process))].sort((a, b) => a - b);
  const lane = new Map(processes.map((p, i) => [p, i]));
  return {
    width: GUTTER + (times.length + 1) * UNIT + 20,
    height: TOP * 2 + processes.length * ROW,
    x: (time) => GUTTER + (rank.get(time) ?? times.length) * UNIT,
    laneY: (process) => TOP + (lane.get(process) ?? 0) * ROW,
    processes,
  };
}

/** A label short enough for a box: `R 3` read/get, `W 3` write/put, `D`, `A "x"`, `C 1→2 ✗`. */
function boxLabel(op: Operation): string {
  const value = formatScalar(op.value, 14);
  switch (op.f) {
    case 'get':
    case 'read':
      return `R ${value}`;
    case 'put':
    case 'write':
      return `W ${value}`;
    case 'delete':
      return 'D';
    case 'append':
      return `A ${value}`;
    case 'cas':
      return `C ${formatScalar(op.expected, 14)}→${value}${op.outcome === 'fail' ? ' ✗' : ''}`;
  }
}

function fitLabel(label: string, width: number): string {
  const fits = Math.floor((width - 6) / CHAR_WIDTH);
  return label.length <= fits ? label : fits > 2 ? `${label.slice(0, fits - 1)}…` : '';
}

function renderTimeline(check: KeyCheck, ops: readonly Operation[]): string {
  const { width, height, x, laneY, processes } = layout(ops);
  const order = new Map((check.violation?.prefix ?? []).map((op, i) => [op.id, i + 1]));
  const unordered = new Set((check.violation?.unordered ?? []).map((u) => u.op.id));
  const blocking = check.violation?.blocking;
  const parts = processes.map((p) => {
    const y = laneY(p) + ROW / 2 + 4;
    return `<line class="lane" x1="${GUTTER}" y1="${y}" x2="${width}" y2="${y}"/><text class="proc" x="8" y="${y}">process ${p}</text>`;
  });
  if (blocking !== undefined && ops.includes(blocking)) {
    const bx = x(blocking.ret);
    parts.push(`<line class="deadline" x1="${bx}" y1="0" x2="${bx}" y2="${height}"/>`);
  }
  for (const op of ops) {
    const x1 = x(op.call);
    const boxWidth = Math.max(6, (Number.isFinite(op.ret) ? x(op.ret) : width - 4) - x1);
    const y = laneY(op.process) + ROW - BOX - 4;
    const place = order.get(op.id);
    const classes = ['op'];
    if (place !== undefined) classes.push('placed');
    if (unordered.has(op.id)) classes.push('unordered');
    if (blocking?.id === op.id) classes.push('blocking');
    if (op.outcome === 'unknown') classes.push('unknown');
    const tip = `${describeOperation(op, 200)} (${describeOrigin(op)})${place === undefined ? '' : `, #${place} in the prefix`}`;
    const badge =
      place === undefined ? '' : `<text class="place" x="${x1 + 1}" y="${y - 5}">#${place}</text>`;
    parts.push(
      `<g class="${classes.join(' ')}"><title>${escapeHtml(tip)}</title>${badge}` +
        `<rect x="${x1}" y="${y}" width="${boxWidth}" height="${BOX}" rx="3"/>` +
        `<text x="${x1 + 3}" y="${y + BOX / 2 + 1}">${escapeHtml(fitLabel(boxLabel(op), boxWidth))}</text></g>`,
    );
  }
  return `<svg width="${width}" height="${height}">${parts.join('')}</svg>`;
}
