// Generates JSON-Schema samples with json-schema-faker, outside Jest: the package is ESM only, and
// Jest's module system (CommonJS under ts-jest) cannot load it. Reads
// [{ key, schema, count, seed }] on stdin and writes { key: [sample, ...] } on stdout; the same
// seed gives the same samples (tests/support/openapi-samples.ts calls it).
import { generateSync } from "json-schema-faker";

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const out = {};
  for (const job of JSON.parse(input)) {
    out[job.key] = Array.from({ length: job.count }, (_, i) => sample(job.schema, job.seed + i));
  }
  process.stdout.write(JSON.stringify(out));
});

/**
 * json-schema-faker 0.6.3 sometimes gives up on an object whose optional properties it skipped
 * although minProperties needs one ("properties ... were not found"): another seed is another draw
 * of the same schema, still repeatable.
 */
function sample(schema, seed) {
  for (let attempt = 0; ; attempt++) {
    try {
      return generateSync(schema, { seed: seed + attempt * 100_003, optionalsProbability: 0.5, maxItems: 4, maxDepth: 6 });
    } catch (err) {
      if (attempt >= 20) throw err;
    }
  }
}
