// The PostgreSQL listening connection, on fake pg clients: one connection for every channel, opened
// again with backoff when lost, and a reconnect told before any newer notification is handed on.
import { EventEmitter } from "node:events";
import type pg from "pg";
import { PgListener } from "../../src/db/listener";

class FakeClient extends EventEmitter {
  readonly queries: string[] = [];
  /** LISTEN waits until the test lets it answer. */
  holdListen = false;
  private releaseListen: (() => void) | undefined;

  constructor(private readonly refuse: boolean) {
    super();
  }

  async connect() {
    if (this.refuse) throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  }

  query(text: string) {
    this.queries.push(text);
    if (text.startsWith("LISTEN") && this.holdListen) return new Promise<void>((resolve) => (this.releaseListen = resolve)).then(() => ({ rows: [] }));
    return Promise.resolve({ rows: [] });
  }

  async end() {
    this.emit("end");
  }

  escapeIdentifier(name: string) {
    return `"${name}"`;
  }

  answerListen() {
    this.releaseListen?.();
  }

  notify(channel: string, payload: string) {
    this.emit("notification", { channel, payload, processId: 1 });
  }
}

function setUp(refusals = 0, holdListenOf: (index: number) => boolean = () => false) {
  const clients: FakeClient[] = [];
  let refused = 0;
  const listener = new PgListener(
    () => {
      const client = new FakeClient(refused < refusals);
      if (refused < refusals) refused += 1;
      client.holdListen = holdListenOf(clients.length);
      clients.push(client);
      return client as unknown as pg.Client;
    },
    { retryMs: 5, maxRetryMs: 20, checkEveryMs: 60_000 },
  );
  return { listener, clients };
}

const until = async (what: string, done: () => boolean) => {
  const deadline = Date.now() + 2_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
};

describe("PgListener", () => {
  it("listens on one connection for every channel, and stops listening to one", async () => {
    const { listener, clients } = setUp();
    const heard: string[] = [];
    const stopA = await listener.listen("a", (p) => heard.push(`a:${p}`));
    await listener.listen("b", (p) => heard.push(`b:${p}`));
    expect(clients).toHaveLength(1);
    clients[0].notify("a", "1");
    clients[0].notify("b", "2");
    await stopA();
    clients[0].notify("a", "3");
    expect(heard).toEqual(["a:1", "b:2"]);
    expect(clients[0].queries).toEqual(['LISTEN "a"', 'LISTEN "b"', 'UNLISTEN "a"']);
    await listener.close();
  });

  it("fails listen() when the first connection cannot be opened, and tries again on the next", async () => {
    const { listener, clients } = setUp(1);
    await expect(listener.listen("a", () => undefined)).rejects.toThrow("ECONNREFUSED");
    await listener.listen("a", () => undefined);
    expect(clients).toHaveLength(2);
    expect(clients[1].queries).toEqual(['LISTEN "a"']);
    await listener.close();
  });

  it("opens another connection when it is lost, and says so before it hands on any newer notification", async () => {
    const { listener, clients } = setUp(0, (index) => index === 1);
    const heard: string[] = [];
    await listener.listen(
      "a",
      (p) => heard.push(p),
      () => heard.push("reconnected"),
    );
    clients[0].emit("error", new Error("terminating connection due to administrator command"));
    await until("a second connection", () => clients.length === 2);
    const second = clients[1];
    await until("its LISTEN", () => second.queries.length === 1);
    // A notification that arrives with the LISTEN's answer waits for the reconnect to be told.
    second.notify("a", "new");
    expect(heard).toEqual([]);
    second.answerListen();
    await until("the reconnect", () => heard.length === 2);
    expect(heard).toEqual(["reconnected", "new"]);
    // The lost connection's late notifications are not handed on.
    clients[0].notify("a", "stale");
    expect(heard).toEqual(["reconnected", "new"]);
    await listener.close();
  });

  it("keeps trying with backoff while the server refuses, and close() stops trying", async () => {
    const { listener, clients } = setUp();
    let reconnects = 0;
    await listener.listen(
      "a",
      () => undefined,
      () => (reconnects += 1),
    );
    (listener as unknown as { newClient: () => pg.Client }).newClient = () => {
      const client = new FakeClient(clients.length < 3);
      clients.push(client);
      return client as unknown as pg.Client;
    };
    clients[0].emit("end");
    await until("a connection that is accepted", () => reconnects === 1);
    expect(clients).toHaveLength(4); // the first, two refused, the one that listens now
    clients[3].emit("end");
    const count = clients.length;
    await listener.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(clients).toHaveLength(count);
    await expect(listener.listen("b", () => undefined)).rejects.toThrow("closed");
  });
});
