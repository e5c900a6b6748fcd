/**
 * The linearizability checker: parse a recorded history, check it key by key against a model,
 * explain a violation and draw it. See docs/checker.md.
 */
export { appendModel } from './append-model.js';
export {
  buildViolation,
  type CheckOptions,
  checkHistory,
  checkKey,
  groupByKey,
  type HistoryCheck,
  type KeyCheck,
  type UnorderedOperation,
  type Verdict,
  type Violation,
} from './check-history.js';
export { type EdnParseOptions, parseEdnHistory } from './edn-history.js';
export { EdnKeyword, EdnSymbol, EdnSyntaxError, type EdnValue, readEdn } from './edn-reader.js';
export { HistoryParseError, UnsupportedOperationError } from './errors.js';
export { explainViolation, summaryLine, verdictLine } from './explain.js';
export {
  describeOperation,
  describeOrigin,
  type EventType,
  type History,
  type HistoryEvent,
  OP_NAMES,
  type Operation,
  type OpName,
  type Outcome,
  operationsFromEvents,
  type Scalar,
} from './history.js';
export { type HtmlReportOptions, renderHtmlReport, writeHtmlReport } from './html-report.js';
export { type JepsenLogOptions, parseJepsenLog } from './jepsen-log.js';
export {
  EVENTS_MAX_DEFAULT,
  type ParseOptions,
  parseJsonlEvents,
  parseJsonlHistory,
} from './jsonl-history.js';
export { type Budget, DEFAULT_BUDGET, type SearchOutcome, searchLinearization } from './linearizability.js';
export type { Model, StateKey } from './model.js';
export { casStep, kvModel, registerModel } from './register-model.js';
