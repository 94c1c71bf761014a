// Readings of other processes for the benchmarks, from Linux's /proc: CPU time per process (the
// service's primary and workers, the baseline's, PostgreSQL's, the load generator's), the whole
// machine's busy time, and RSS. Kept free of the service's code, so the baseline's processes load
// only what they serve with.
import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";

/** One line of /proc/<pid>/stat: the process's name, its parent and the CPU it has used (clock ticks). */
interface ProcStat {
  pid: string;
  comm: string;
  ppid: string;
  ticks: number;
}

function readProcStat(pid: string): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { pid, comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), ppid: fields[1], ticks: Number(fields[11]) + Number(fields[12]) }; // utime + stime
  } catch {
    return undefined; // the process ended meanwhile
  }
}

/** Every process on this machine, or undefined where there is no /proc. */
function readProcesses(): ProcStat[] | undefined {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  return pids.map(readProcStat).filter((p): p is ProcStat => p !== undefined);
}

const asTicks = (processes: ProcStat[]) => new Map(processes.map((p) => [p.pid, p.ticks]));

/**
 * CPU use of the PostgreSQL server's processes on this machine (from /proc), per process, or
 * undefined where there is no /proc or no local server. Compare two readings with cpuSecondsBetween.
 */
export function postgresCpu(): Map<string, number> | undefined {
  const server = readProcesses()?.filter((p) => p.comm === "postgres");
  return server?.length ? asTicks(server) : undefined;
}

/** CPU use of `rootPid` and its child processes (a cluster's primary and its workers), per process. */
export function processTreeCpu(rootPid: number): Map<string, number> {
  const root = String(rootPid);
  return asTicks(readProcesses()?.filter((p) => p.pid === root || p.ppid === root) ?? []);
}

/** CPU use of the given processes, per process (from /proc; a process that has ended is left out). */
export function processesCpu(pids: number[]): Map<string, number> {
  return asTicks(pids.map((pid) => readProcStat(String(pid))).filter((p): p is ProcStat => p !== undefined));
}

/** The child processes of `pid` (a cluster's workers), oldest first. */
export function childPids(pid: number): number[] {
  const parent = String(pid);
  return (readProcesses() ?? [])
    .filter((p) => p.ppid === parent)
    .map((p) => Number(p.pid))
    .sort((a, b) => a - b);
}

/**
 * CPU seconds the server used between two readings: what each process used meanwhile (all of it for
 * a process that started in between). A process that ended in between is missed: a lower bound.
 */
export function cpuSecondsBetween(before: Map<string, number>, after: Map<string, number>): number {
  let ticks = 0;
  for (const [pid, now] of after) ticks += now - (before.get(pid) ?? 0);
  return ticks / CLOCK_TICKS_PER_SECOND;
}

/**
 * CPU seconds the whole machine has spent busy since boot (/proc/stat: user, nice, system, irq,
 * softirq; not idle, I/O wait or steal), or undefined without /proc. Interrupt time (the loopback
 * network's softirq among it) is charged to no process.
 */
export function machineBusySeconds(): number | undefined {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq] = fields;
    return (user + nice + system + irq + softirq) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

// Linux's USER_HZ: 100 on every mainstream kernel (getconf CLK_TCK).
const CLOCK_TICKS_PER_SECOND = 100;

const mb = (bytes: number) => bytes / 1024 / 1024;

/** The resident memory of one process, from /proc/<pid>/statm; 0 once it has ended. */
function rssBytes(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]) * PAGE_BYTES;
  } catch {
    return 0;
  }
}

// The kernel's page size on x86-64 and on most arm64 kernels (getconf PAGESIZE).
const PAGE_BYTES = 4096;

/**
 * Samples the summed RSS of other processes (the service's primary and workers) on an interval;
 * the processes are fixed when sampling begins.
 */
export class ProcessRssSampler {
  private timer?: NodeJS.Timeout;
  private pids: number[] = [];
  start = 0;
  peak = 0;

  begin(pids: number[], intervalMs: number): this {
    this.pids = pids;
    this.start = this.read();
    this.peak = this.start;
    this.timer = setInterval(() => this.sample(), intervalMs);
    return this;
  }

  private read(): number {
    return this.pids.reduce((sum, pid) => sum + rssBytes(pid), 0);
  }

  sample(): void {
    const rss = this.read();
    if (rss > this.peak) this.peak = rss;
  }

  end(): { startMb: number; peakMb: number; growthMb: number } {
    clearInterval(this.timer);
    this.sample();
    return { startMb: mb(this.start), peakMb: mb(this.peak), growthMb: mb(this.peak - this.start) };
  }
}

/** The OS's high-water mark of each process's RSS (VmHWM), in MB; 0 for one that has ended. */
export function highWaterMarksMb(pids: number[]): number[] {
  return pids.map((pid) => {
    try {
      const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
      return kb ? Number(kb) / 1024 : 0;
    } catch {
      return 0;
    }
  });
}

/**
 * A free TCP port on 127.0.0.1 for a server started next, below the kernel's range for outgoing
 * connections: a port from that range could be taken as the local end of one of the many
 * connections the benchmark opens before the server binds it, or a client polling it before the
 * server listens could connect to itself (TCP self-connect) and wait for an answer forever.
 */
export async function freePort(): Promise<number> {
  let low = 32_768;
  try {
    low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: the usual default
  }
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = 10_000 + Math.floor(Math.random() * Math.max(1, low - 10_000));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port found below ${low}`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = http.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** What each process used between two readings, in CPU seconds (all of it for one that started in between). */
export function cpuSecondsByProcess(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const used = new Map<string, number>();
  for (const [pid, now] of after) used.set(pid, (now - (before.get(pid) ?? 0)) / CLOCK_TICKS_PER_SECOND);
  return used;
}
