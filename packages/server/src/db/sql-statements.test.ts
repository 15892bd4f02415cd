import { describe, expect, it } from "vitest";
import { splitSqlStatements } from "./sql-statements.ts";

describe("splitSqlStatements", () => {
  it("splits on top-level semicolons only", () => {
    const script = `
      CREATE TABLE a (x text DEFAULT 'a;b''c');   -- a comment; with a semicolon
      INSERT INTO a VALUES (E'it\\'s;ok');
      /* block; /* nested; */ still comment; */
      SELECT "weird;name" FROM a;
      CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END; $$;
      CREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 2; END; $body$;
      SELECT 1`;
    const statements = splitSqlStatements(script);
    expect(statements).toHaveLength(6);
    expect(statements[0]).toBe("CREATE TABLE a (x text DEFAULT 'a;b''c')");
    expect(statements[1]).toContain("E'it\\'s;ok'");
    expect(statements[2]).toContain('"weird;name"');
    expect(statements[3]).toContain("RETURN 1; END; $$");
    expect(statements[4]).toContain("$body$ BEGIN RETURN 2; END; $body$");
    expect(statements[5]).toBe("SELECT 1");
  });

  it("drops empty and comment-only pieces", () => {
    expect(splitSqlStatements("-- only a comment\n;;  ; /* x */ ;")).toEqual([]);
  });

  it("does not take a dollar sign inside an identifier for a quote", () => {
    expect(splitSqlStatements("SELECT a$b FROM t; SELECT 2")).toEqual(["SELECT a$b FROM t", "SELECT 2"]);
  });
});
