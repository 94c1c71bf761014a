// `npm run bench:split`: how long the split engine takes for 10, 1,000 and 100,000 participants.
// Pure arithmetic (domain/split.ts), no database. Prints one line per method and size.
// Environment: BENCH_SPLIT_SIZES (default 10,1000,100000).
import { performance } from "node:perf_hooks";
import { cpus } from "node:os";
import Decimal from "decimal.js";
import { planSplit, type SplitContext, type SplitRequest } from "../src/domain/split";

// BENCH_SPLIT_SIZES: the participant counts, comma-separated (CI's smoke run takes small ones).
const sizes = (process.env.BENCH_SPLIT_SIZES ?? "10,1000,100000").split(",").map((s) => {
  const n = Number(s.trim());
  if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_SPLIT_SIZES: "${s}" is not a participant count`);
  return n;
});

function context(n: number): SplitContext {
  return {
    total: new Decimal("987654.32"),
    currency: "USD",
    participantIds: Array.from({ length: n }, (_, i) => `p-${i.toString(36).padStart(6, "0")}`),
    seed: "bench-bill",
  };
}

function requests(ctx: SplitContext): Record<string, SplitRequest> {
  const ids = ctx.participantIds;
  const n = ids.length;
  // Percentages that sum to exactly 100 with 4 decimals: spread 1,000,000 units of 0.0001%.
  const units = Array.from({ length: n }, (_, i) => Math.floor(1_000_000 / n) + (i < 1_000_000 % n ? 1 : 0));
  // Custom amounts that sum to the total exactly.
  const cents = 98_765_432;
  const amounts = Array.from({ length: n }, (_, i) => Math.floor(cents / n) + (i < cents % n ? 1 : 0));
  return {
    equal: { method: "equal" },
    shares: { method: "shares", shares: ids.map((id, i) => ({ participantId: id, weight: String((i % 4) + 1) })) },
    percentage: {
      method: "percentage",
      percentages: ids.map((id, i) => ({ participantId: id, percentage: new Decimal(units[i]).dividedBy(10_000).toFixed() })),
    },
    custom_amount: { method: "custom_amount", amounts: ids.map((id, i) => ({ participantId: id, amount: new Decimal(amounts[i]).dividedBy(100).toFixed(2) })) },
    itemized: {
      method: "itemized",
      items: Array.from({ length: Math.max(1, Math.floor(n / 2)) }, (_, i) => ({ amount: "12.34", participantIds: [ids[(2 * i) % n], ids[(2 * i + 1) % n]] })),
    },
  };
}

function time(fn: () => unknown, minMs: number): { perRunMs: number; runs: number } {
  fn(); // warm-up
  let runs = 0;
  const start = performance.now();
  do {
    fn();
    runs += 1;
  } while (performance.now() - start < minMs);
  return { perRunMs: (performance.now() - start) / runs, runs };
}

console.log(`split engine benchmark: node ${process.version}, ${cpus()[0]?.model ?? "cpu"} x${cpus().length}`);
console.log("participants  method          ms/split    splits/s   runs");
for (const n of sizes) {
  const ctx = context(n);
  for (const [name, request] of Object.entries(requests(ctx))) {
    const { perRunMs, runs } = time(() => planSplit(ctx, request), n >= 100_000 ? 3_000 : 1_000);
    console.log(
      `${String(n).padStart(12)}  ${name.padEnd(14)} ${perRunMs.toFixed(3).padStart(10)} ${(1000 / perRunMs).toFixed(0).padStart(10)} ${String(runs).padStart(6)}`,
    );
  }
}
const rss = process.memoryUsage().rss / 1024 / 1024;
console.log(`peak-ish RSS after the run: ${rss.toFixed(0)} MB`);
