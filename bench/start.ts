// `npm run bench:start`: seconds from `npm start` to the first 200 from /ready, cold (dist/ deleted,
// so it compiles) and warm (nothing changed since the last build), and `node dist/server.js` alone
// for comparison. Each run uses the same already-initialised PGlite directory, so the figures
// differ by the build decision only. Deletes this checkout's dist/ for the cold runs.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { PROJECT_ROOT } from "../src/paths";
import { cpuBusyPercent, envNumber, JWT_SECRET, median } from "./support";

const RUNS = envNumber("BENCH_START_RUNS", 3);
const scratch = mkdtempSync(path.join(tmpdir(), "chillbill-bench-start-"));
let port = 0;

function environment(): NodeJS.ProcessEnv {
  port = 40_000 + Math.floor(Math.random() * 20_000);
  return {
    ...process.env,
    PORT: String(port),
    HOST: "127.0.0.1",
    PGLITE_DATA_DIR: path.join(scratch, "pglite"),
    UPLOAD_DIR: path.join(scratch, "uploads"),
    JWT_SECRET,
    LOG_LEVEL: "silent",
    DATABASE_URL: "",
  };
}

/** Starts `command`, returns the seconds until /ready answers 200, then stops its process group. */
async function secondsToReady(command: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  const child = spawn(command, args, { cwd: PROJECT_ROOT, env: environment(), stdio: ["ignore", "ignore", "inherit"], detached: true });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  let finished = false;
  void exited.then(() => (finished = true));
  try {
    for (;;) {
      if (finished) throw new Error(`${command} ${args.join(" ")} exited before /ready answered`);
      const ok = await fetch(`http://127.0.0.1:${port}/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return (performance.now() - t0) / 1000;
      if (performance.now() - t0 > 120_000) throw new Error("not ready within 120 s");
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    if (!finished) process.kill(-child.pid!, "SIGTERM");
    await exited;
  }
}

async function measure(label: string, before: () => void, command: string, args: string[]): Promise<void> {
  const seconds: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    before();
    seconds.push(await secondsToReady(command, args));
  }
  console.log(`${label.padEnd(38)} ${seconds.map((s) => s.toFixed(2).padStart(5)).join("  ")}   median ${median(seconds).toFixed(2)} s`);
}

async function main(): Promise<void> {
  const busy = await cpuBusyPercent(1_000);
  console.log(
    `Start to /ready: node ${process.version}, ${cpus()[0]?.model ?? "cpu"} x${cpus().length}, CPU ${busy.toFixed(0)}% busy before the run` +
      (busy > 20 ? " (something else is running: figures will be high)" : ""),
  );
  // Creates the PGlite directory and applies the migrations, which only a first start does.
  await secondsToReady("npm", ["start", "--silent"]);
  const deleteDist = () => rmSync(path.join(PROJECT_ROOT, "dist"), { recursive: true, force: true });
  console.log(`${"".padEnd(38)} ${Array.from({ length: RUNS }, (_, i) => `run ${i + 1}`.padStart(5)).join("  ")}`);
  await measure("npm start, cold (dist/ deleted)", deleteDist, "npm", ["start", "--silent"]);
  await measure("npm start, warm (nothing changed)", () => {}, "npm", ["start", "--silent"]);
  await measure("node dist/server.js (no build check)", () => {}, process.execPath, ["dist/server.js"]);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => rmSync(scratch, { recursive: true, force: true }));
