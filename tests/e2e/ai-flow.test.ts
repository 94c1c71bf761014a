// The real server with the mock AI service and its real timers: upload both photos, wait for the
// signed callbacks, see the bill filled in and the people on it.
import { signDevelopmentToken } from "../../src/http/auth";
import { startIsolatedServer } from "../support/server-process";
import { jpegBytes, pngBytes } from "../support/images";

const secret = "e2e-secret-that-is-long-enough-for-hs256";
jest.setTimeout(120_000);

let server: Awaited<ReturnType<typeof startIsolatedServer>>;
let auth: { authorization: string };

beforeAll(async () => {
  server = await startIsolatedServer("e2e-ai", {
    JWT_SECRET: secret,
    AI_MOCK_DELAY_MS: "300",
  });
  auth = { authorization: `Bearer ${await signDevelopmentToken(secret, "e2e-creator")}` };
});

afterAll(async () => {
  await server?.dispose();
});

async function uploadImage(billId: string, kind: "bill" | "group", bytes: Buffer) {
  const form = new FormData();
  form.set("image", new Blob([bytes], { type: "image/png" }), "photo.png");
  const res = await fetch(`${server.url}/api/chillbill/bills/${billId}/${kind}-image`, { method: "POST", headers: auth, body: form });
  expect(res.status).toBe(202);
}

it("creates a bill, uploads both photos, and the AI's callbacks fill it in", async () => {
  const created = await fetch(`${server.url}/api/chillbill/bills`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: "{}",
  });
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };

  await uploadImage(id, "bill", jpegBytes(2048));
  await uploadImage(id, "group", pngBytes(2048));

  let status: { billImage: { state: string }; groupImage: { state: string } } | undefined;
  const deadline = Date.now() + 20_000;
  do {
    await new Promise((r) => setTimeout(r, 100));
    status = (await (await fetch(`${server.url}/api/chillbill/bills/${id}/processing-status`, { headers: auth })).json()) as typeof status;
  } while (Date.now() < deadline && (status!.billImage.state !== "completed" || status!.groupImage.state !== "completed"));
  expect(status).toMatchObject({ aiProcessed: true, billImage: { state: "completed" }, groupImage: { state: "completed" } });

  const bill = (await (await fetch(`${server.url}/api/chillbill/bills/${id}`, { headers: auth })).json()) as Record<string, unknown>;
  expect(bill).toMatchObject({ totalAmount: "100.00", currency: "USD", merchantName: "Test Restaurant", aiProcessed: true });
  expect((bill.participants as Array<Record<string, unknown>>).map((p) => [p.name, p.isBankCustomer])).toEqual([
    ["Alice", true],
    ["Bob", false],
  ]);
});
