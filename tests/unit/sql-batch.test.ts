import { batch } from "../../src/db/sql";

describe("batch(): several writes as one statement", () => {
  it("numbers each statement's placeholders after the ones before it", () => {
    const one = batch([
      { text: "UPDATE a SET x = $1 WHERE id = $2", values: ["x", "id-a"] },
      { text: "INSERT INTO b (p, q) VALUES ($1, $1)", values: ["p"] },
      { text: "UPDATE c SET y = $2 WHERE id = $1", values: ["id-c", "y"] },
    ]);
    expect(one.text).toBe(
      "WITH w0 AS (UPDATE a SET x = $1 WHERE id = $2),\nw1 AS (INSERT INTO b (p, q) VALUES ($3, $3)),\nw2 AS (UPDATE c SET y = $5 WHERE id = $4)\nSELECT 1",
    );
    expect(one.values).toEqual(["x", "id-a", "p", "id-c", "y"]);
  });

  it("renumbers two-digit placeholders as whole numbers", () => {
    const values = Array.from({ length: 11 }, (_, i) => i + 1);
    const one = batch([
      { text: "SELECT $1", values: [0] },
      { text: "SELECT $10, $11, $1", values },
    ]);
    expect(one.text).toContain("w1 AS (SELECT $11, $12, $2)");
  });

  it("passes a single statement through unchanged", () => {
    const only = { text: "UPDATE a SET x = $1", values: [1] };
    expect(batch([only])).toBe(only);
  });

  it("refuses a placeholder without a value, and an empty batch", () => {
    expect(() =>
      batch([
        { text: "SELECT $1", values: [1] },
        { text: "SELECT $2", values: [1] },
      ]),
    ).toThrow("$2 has no value in statement 2");
    expect(() => batch([])).toThrow("at least one statement");
  });
});
