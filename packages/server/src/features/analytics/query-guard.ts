import { type AnalyticsEngine, AnalyticsEngineError } from "../../analytics-store/index.ts";

/**
 * The security boundary of the project-scoped SQL endpoint.
 *
 * chDB has no users, grants or row policies, so the guard cannot lean on them: it decides from
 * ClickHouse's own parse tree (`EXPLAIN AST`, the engine's parser, not ours) what a query may touch.
 * Allowed: one SELECT (with unions, joins, subqueries, CTEs, window functions) over the project views
 * of the `default` database, `system.one` and a few generator table functions. Everything else —
 * other databases, base tables, system tables, file/network/dictionary access, SETTINGS, FORMAT, INTO
 * OUTFILE, any statement that is not a SELECT — is refused before the query runs. The views filter by
 * the scope the server sets outside the query text, and the server also runs the query `readonly`.
 *
 * The query that runs is the engine's own single-line rendering of the text that was checked, so what
 * was checked is exactly what runs (no comment or quoting trick can make the two differ).
 */
export async function checkQuery(
  engine: AnalyticsEngine,
  sql: string,
  params: Record<string, unknown>,
): Promise<string> {
  const normalized = await normalize(engine, sql);
  const { text } = await engine.query(`EXPLAIN AST ${normalized}`, { params, format: "TabSeparatedRaw" });
  const violation = findViolation(parseAst(text), normalized);
  if (violation) throw violation;
  return normalized;
}

/** The views a project's queries may read: exactly what `default` holds. */
export const PROJECT_VIEWS = new Set(["events"]);

const ALLOWED_SYSTEM_TABLES = new Set(["one"]);

/** Table functions that only generate data. */
const ALLOWED_TABLE_FUNCTIONS = new Set([
  "numbers",
  "numbers_mt",
  "zeros",
  "zeros_mt",
  "generate_series",
  "generateseries",
  "values",
  "view",
  "null",
]);

/** Scalar functions that reach outside the query's tables: files, dictionaries, other tables, models. */
const FORBIDDEN_FUNCTION =
  /^(file|dict.*|joinget.*|hascolumnintable|catboostevaluate|modelevaluate|generateserialid|getserversetting|getclienthttpheader|__.*)$/;

/** `x IN t` reads a table when its right side is a bare name. */
const IN_FUNCTIONS = new Set([
  "in",
  "notin",
  "globalin",
  "globalnotin",
  "nullin",
  "notnullin",
  "globalnullin",
  "globalnotnullin",
]);

/** The node types a read-only SELECT consists of; anything else (INSERT, SET, CREATE…) is refused. */
const ALLOWED_NODES = new Set([
  "SelectWithUnionQuery",
  "SelectIntersectExceptQuery",
  "SelectQuery",
  "ExpressionList",
  "Identifier",
  "Literal",
  "Function",
  "Subquery",
  "Asterisk",
  "QualifiedAsterisk",
  "ColumnsRegexpMatcher",
  "ColumnsListMatcher",
  "QualifiedColumnsRegexpMatcher",
  "QualifiedColumnsListMatcher",
  "ColumnsApplyTransformer",
  "ColumnsExceptTransformer",
  "ColumnsReplaceTransformer",
  "ColumnsReplaceTransformer::Replacement",
  "TablesInSelectQuery",
  "TablesInSelectQueryElement",
  "TableExpression",
  "TableIdentifier",
  "TableJoin",
  "ArrayJoin",
  "SampleRatio",
  "OrderByElement",
  "InterpolateElement",
  "WithElement",
  "WindowDefinition",
  "WindowListElement",
  "QueryParameter",
]);

interface AstNode {
  type: string;
  /** The rest of the line: a name, a literal, `(alias x)`. */
  label: string;
  children: AstNode[];
  parent: AstNode | null;
}

/** Raised for queries the guard refuses; carries the ClickHouse code the refusal corresponds to. */
export class QueryRefused extends AnalyticsEngineError {
  constructor(message: string, code: number) {
    super(message, code, false);
    this.name = "QueryRefused";
  }
}

async function normalize(engine: AnalyticsEngine, sql: string): Promise<string> {
  try {
    const { text } = await engine.query("SELECT formatQuerySingleLine({query:String}) AS normalized", {
      params: { query: sql },
    });
    return (JSON.parse(text) as { normalized: string }).normalized;
  } catch (error) {
    if (error instanceof AnalyticsEngineError && !error.unavailable) {
      // The parser's message, without the trailing mention of the wrapper it ran in.
      const message = error.message.replace(/[.\s]*:?\s*In scope SELECT formatQuerySingleLine[\s\S]*$/, "");
      throw new AnalyticsEngineError(message, error.clickhouseCode, false, { cause: error });
    }
    throw error;
  }
}

/**
 * Parses `EXPLAIN AST` output (one node per line, one space of indent per level). Names are printed
 * unescaped, so a quoted identifier containing a newline could forge lines: the declared child counts
 * must add up to the lines seen, or the query is refused.
 */
function parseAst(text: string): AstNode {
  const lines = text.split("\n").filter((line) => line.length > 0);
  const stack: AstNode[] = [];
  let root: AstNode | null = null;
  let declaredChildren = 0;
  for (const line of lines) {
    const match = /^( *)([A-Za-z_:]+)(?: (.*))?$/.exec(line);
    if (!match) throw refusedShape();
    const depth = match[1]!.length;
    let label = match[3] ?? "";
    const children = /\s*\(children (\d+)\)\s*$/.exec(label);
    if (children) {
      declaredChildren += Number(children[1]);
      label = label.slice(0, children.index).trim();
    }
    if (depth > stack.length || (depth === 0 && root)) throw refusedShape();
    stack.length = depth;
    const parent = depth > 0 ? stack[depth - 1]! : null;
    const node: AstNode = { type: match[2]!, label, children: [], parent };
    if (parent) parent.children.push(node);
    else root = node;
    stack.push(node);
  }
  if (!root || declaredChildren !== lines.length - 1) throw refusedShape();
  return root;
}

const refusedShape = () => new QueryRefused("Names in this query cannot be checked safely.", 497);
const accessDenied = (what: string) => new QueryRefused(`Not allowed: ${what}.`, 497);

function findViolation(root: AstNode, normalized: string): QueryRefused | null {
  if (root.type !== "SelectWithUnionQuery" || root.children.length !== 1) {
    return root.type === "SelectWithUnionQuery"
      ? accessDenied("FORMAT and INTO OUTFILE clauses")
      : accessDenied("statements other than SELECT");
  }
  const queue = [root];
  while (queue.length > 0) {
    const node = queue.pop()!;
    queue.push(...node.children);
    if (node.type === "Set") {
      const setting = /\bSETTINGS\s+`?([A-Za-z0-9_]+)/i.exec(normalized)?.[1] ?? "settings";
      return new QueryRefused(`Cannot modify '${setting}' setting in readonly mode.`, 164);
    }
    if (!ALLOWED_NODES.has(node.type)) return accessDenied(`${node.type} clauses`);
    if (node.type === "TableIdentifier" && !isAllowedTable(nameOf(node))) {
      return accessDenied(`table ${nameOf(node)}`);
    }
    if (node.type === "Function") {
      const name = nameOf(node).toLowerCase();
      if (node.parent?.type === "TableExpression" && !ALLOWED_TABLE_FUNCTIONS.has(name)) {
        return accessDenied(`table function ${nameOf(node)}`);
      }
      if (FORBIDDEN_FUNCTION.test(name)) return accessDenied(`function ${nameOf(node)}`);
      if (IN_FUNCTIONS.has(name)) {
        const right = node.children[0]?.children[1];
        if (right?.type === "Identifier" && !isAllowedTable(nameOf(right))) {
          return accessDenied(`table ${nameOf(right)}`);
        }
      }
    }
  }
  return null;
}

/** A node's name: its label without the `(alias …)` part. */
const nameOf = (node: AstNode) => node.label.replace(/\s*\(alias [\s\S]*\)$/, "").trim();

/**
 * Unqualified names resolve in `default`, which holds only the project views (or name a CTE); a
 * qualified name must be one of those views or an allowed system table.
 */
function isAllowedTable(name: string): boolean {
  const dot = name.indexOf(".");
  if (dot < 0) return true;
  const database = name.slice(0, dot);
  const table = name.slice(dot + 1);
  if (database === "default") return PROJECT_VIEWS.has(table);
  if (database === "system") return ALLOWED_SYSTEM_TABLES.has(table);
  return false;
}
