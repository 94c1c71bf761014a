// Errors from the database drivers themselves (PGlite here; node-postgres reports the same fields),
// as the API answers them.
import { PGlite } from "@electric-sql/pglite";
import { toProblem } from "../../src/http/problem";

describe("database errors as problem details", () => {
  it("maps PostgreSQL's unique violation from the plain-SQL path (23505) to 409, as Prisma's", async () => {
    const db = new PGlite();
    try {
      await db.exec("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)");
      const err = await db.query("INSERT INTO t VALUES (1)").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: "23505" });
      expect(toProblem(err)).toMatchObject({ status: 409, code: "already_exists" });
      // Another database error is still a 500, and so is any object that merely says 23505.
      const other = await db.query("SELECT 1/0").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(toProblem(other)).toMatchObject({ status: 500 });
      expect(toProblem({ code: "23505" })).toMatchObject({ status: 500 });
    } finally {
      await db.close();
    }
  });
});
