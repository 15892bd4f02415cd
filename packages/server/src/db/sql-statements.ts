/**
 * Splits a PostgreSQL script into its top-level statements.
 *
 * The migration runner executes statements one at a time so that a failure names the exact statement,
 * and so that statements which refuse to run inside a transaction block (`CREATE INDEX CONCURRENTLY`)
 * can run on their own. The scanner understands everything that can hide a semicolon: single-quoted
 * strings (including `E''` escapes), quoted identifiers, line and nested block comments and
 * dollar-quoted bodies (`$$ … $$`, `$fn$ … $fn$`).
 */
export function splitSqlStatements(script: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  const n = script.length;

  const pushStatement = (end: number) => {
    const text = script.slice(start, end).trim();
    if (text.length > 0 && !isOnlyComments(text)) statements.push(text);
  };

  while (i < n) {
    const ch = script[i]!;
    const next = script[i + 1];
    if (ch === "-" && next === "-") {
      const eol = script.indexOf("\n", i);
      i = eol === -1 ? n : eol + 1;
    } else if (ch === "/" && next === "*") {
      i = skipBlockComment(script, i);
    } else if (ch === "'") {
      const escapes = i > 0 && /[eE]/.test(script[i - 1]!) && !/\w/.test(script[i - 2] ?? "");
      i = skipQuoted(script, i, "'", escapes);
    } else if (ch === '"') {
      i = skipQuoted(script, i, '"', false);
    } else if (ch === "$") {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(script.slice(i, i + 64));
      if (tag && !/[\w$]/.test(script[i - 1] ?? "")) {
        const close = script.indexOf(tag[0], i + tag[0].length);
        i = close === -1 ? n : close + tag[0].length;
      } else {
        i++;
      }
    } else if (ch === ";") {
      pushStatement(i);
      start = i + 1;
      i++;
    } else {
      i++;
    }
  }
  pushStatement(n);
  return statements;
}

function skipBlockComment(script: string, from: number): number {
  let depth = 0;
  let i = from;
  while (i < script.length) {
    if (script[i] === "/" && script[i + 1] === "*") {
      depth++;
      i += 2;
    } else if (script[i] === "*" && script[i + 1] === "/") {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return i;
}

function skipQuoted(script: string, from: number, quote: string, backslashEscapes: boolean): number {
  let i = from + 1;
  while (i < script.length) {
    const ch = script[i];
    if (backslashEscapes && ch === "\\") {
      i += 2;
    } else if (ch === quote) {
      if (script[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i++;
    }
  }
  return i;
}

function isOnlyComments(text: string): boolean {
  return (
    text
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/--[^\n]*/g, "")
      .trim().length === 0
  );
}
