// `npm run jobs`: the background jobs by queue and the latest failures (with their errors);
// `npm run jobs -- retry <queue> <job id>...` puts failed jobs back in their queue, where any
// running instance takes them up. On the configured database (DATABASE_URL; PGlite only while no
// server has its data folder open).
import pino from "pino";
import { ConfigError, loadConfig, readEnvironment } from "../config";
import { openDatabase } from "../db/database";
import { Jobs, QUEUES, type QueueName } from "../jobs/jobs";

async function main(args: string[]) {
  const config = loadConfig(readEnvironment());
  const db = await openDatabase(config.database);
  const jobs = new Jobs(db.executor, pino({ level: "warn" }), {
    schema: config.jobs.schema,
    work: false,
    pollingIntervalMs: config.jobs.pollMs,
    maintenanceIntervalSeconds: config.jobs.maintenanceSeconds,
  });
  try {
    await jobs.start();
    const [command, queue, ...ids] = args;
    if (command === "retry") {
      if (!Object.values(QUEUES).includes(queue as QueueName) || ids.length === 0) {
        throw new ConfigError(`Usage: npm run jobs -- retry <queue> <job id>... (queues: ${Object.values(QUEUES).join(", ")})`);
      }
      console.log(`${await jobs.retry(queue as QueueName, ids)} job(s) put back in ${queue}`);
      return;
    }
    if (command) throw new ConfigError(`Unknown command ${command}; use no argument to list, or retry <queue> <job id>...`);
    console.table(await jobs.counts());
    const failed = await jobs.failed();
    if (failed.length) console.table(failed);
    else console.log("No failed jobs.");
  } finally {
    await jobs.stop();
    await db.close();
  }
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
