// Several instances of the service on one fresh PostgreSQL database, behind a round-robin proxy,
// as a multi-instance deployment runs: each instance is the real server process with the same
// secrets, and PUBLIC_BASE_URL and INTERNAL_BASE_URL point at the proxy, so pay links and callbacks
// (webhooks, AI results) reach any instance. Job settings are short, so that a lease that runs out
// or a poll is seconds, not minutes. The test reaches each instance directly too (instances[i].url).
import type { Client } from "pg";
import { RoundRobinProxy } from "./round-robin-proxy";
import type { RealServers } from "./real-servers";
import type { ServerProcess } from "./server-process";

/** Background work on test time: poll twice a second, hand back a dead worker's job 5 s after it took it. */
export const SHORT_JOB_SETTINGS: Record<string, string> = {
  JOB_POLL_MS: "500",
  JOB_MAINTENANCE_SECONDS: "1",
  JOB_LEASE_SECONDS: "5",
  PAYMENT_HAND_OVER_RETRY_AFTER_SECONDS: "2",
  NOTIFY_MAX_ATTEMPTS: "3",
  SHUTDOWN_TIMEOUT_MS: "5000",
};

export interface Instance extends ServerProcess {
  index: number;
  /** i0, i1, ...: how the test's fake outside services (SMTP, payment system) tell instances apart. */
  name: string;
}

export interface Cluster {
  url: string;
  name: string;
  /** The test's own connection to the cluster's database. */
  db: Client;
  proxy: RoundRobinProxy;
  instances: Instance[];
  /** SIGKILL: the instance dies at once, with whatever it holds (jobs, transactions, connections). */
  kill(index: number): Promise<void>;
  /** Stops every instance still running (SIGTERM), and the proxy. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  size?: number;
  /** Settings of every instance (on top of SHORT_JOB_SETTINGS, the database and the proxy's URLs). */
  env?: Record<string, string>;
  /** Settings of one instance (its SMTP server, its payment system URL), on top of `env`. */
  envOf?: (instance: { index: number; name: string }) => Record<string, string>;
}

export async function startCluster(servers: RealServers, options: ClusterOptions = {}): Promise<Cluster> {
  const size = options.size ?? 3;
  const database = await servers.freshDatabase();
  const db = await servers.connectTo(database.url);
  const proxy = new RoundRobinProxy();
  const proxyUrl = await proxy.start();
  const envOf = (index: number) => {
    const name = `i${index}`;
    return {
      ...SHORT_JOB_SETTINGS,
      DATABASE_URL: database.url,
      DATABASE_POOL_MAX: "6",
      PUBLIC_BASE_URL: proxyUrl,
      INTERNAL_BASE_URL: proxyUrl,
      RATE_LIMIT_PER_MINUTE: "0",
      REMINDER_CRON: "off",
      ...options.env,
      ...options.envOf?.({ index, name }),
    };
  };
  const boot = async (index: number): Promise<Instance> => Object.assign(await servers.boot(envOf(index)), { index, name: `i${index}` });
  // All at once on the empty database, as a deployment's instances start: their migrations wait
  // for each other (src/db/migration-lock.ts), and so do pg-boss's.
  const started = await Promise.allSettled(Array.from({ length: size }, (_, i) => boot(i)));
  const instances = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await Promise.all(instances.map((s) => s.stop("SIGKILL")));
    await proxy.close();
    throw failed.reason;
  }
  proxy.setTargets(instances.map((s) => s.url));
  return {
    ...database,
    db,
    proxy,
    instances,
    kill: async (index) => {
      await instances[index].stop("SIGKILL");
    },
    stop: async () => {
      await Promise.all(instances.map((s) => s.stop("SIGTERM")));
      await proxy.close();
    },
  };
}
