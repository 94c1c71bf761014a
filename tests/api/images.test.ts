import path from "node:path";
import { SEEDED_BANK_USERS } from "../../src/adapters/directory/user-directory";
import { createBill, insertParticipant } from "../support/builders";
import { as, expectProblem, API } from "../support/http";
import { jpegBytes, pngBytes, signedCallback } from "../support/images";
import { signPayload } from "../../src/domain/signature";
import { createTestApp, newUserId, TEST_AI_SECRET, TestClock, type TestApp } from "../support/test-app";
import request from "supertest";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";

let t: TestApp;
const clock = new TestClock();
beforeAll(async () => {
  t = await createTestApp({ clock, env: { MAX_UPLOAD_BYTES: "4096", AI_JOB_TIMEOUT_MS: "60000", AI_MAX_ATTEMPTS: "2" } });
});
afterAll(() => t.close());

async function user() {
  const id = newUserId();
  return { id, token: await t.tokenFor(id) };
}

function upload(token: string, billId: string, kind: "bill" | "group", bytes: Buffer, filename = "photo.png", contentType = "image/png") {
  return as(t, token).post(`/bills/${billId}/${kind}-image`).attach("image", bytes, { filename, contentType });
}

async function uploaded(token: string, billId: string, kind: "bill" | "group" = "bill") {
  const res = await upload(token, billId, kind, pngBytes());
  expect(res.status).toBe(202);
  return res.body as { jobId: string };
}

const bill = (id: string) => t.db.prisma.bill.findUniqueOrThrow({ where: { id } });

describe("POST /bills/:billId/bill-image and group-image", () => {
  it("stores the image under a generated name, starts a job and hands it to the AI service", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token);
    const before = t.uploadedFiles();
    const res = await upload(alice.token, b.id, "bill", jpegBytes(), "../../etc/passwd.jpg", "image/jpeg");
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ kind: "bill", state: "processing", attempts: 1, aiJobId: expect.any(String), error: null });
    const added = t.uploadedFiles().filter((f) => !before.includes(f));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatch(/^[0-9a-f-]{36}$/);
    const row = await bill(b.id);
    expect(row).toMatchObject({ billImageJobId: res.body.jobId, billImagePath: added[0] });
    expect((await t.db.prisma.imageJob.findUniqueOrThrow({ where: { id: res.body.jobId } })).mimeType).toBe("image/jpeg");
    const submitted = t.ai.submissions.at(-1)!;
    expect(submitted).toMatchObject({ jobId: res.body.jobId, billId: b.id, kind: "bill", mimeType: "image/jpeg" });
    expect(submitted.filePath).toBe(path.join(t.config.uploads.dir, added[0]));
    expect(submitted.callbackUrl).toMatch(new RegExp(`/api/chillbill/internal/bills/${b.id}/bill-result$`));
  });

  it("accepts the group photo the same way", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token);
    const job = await uploaded(alice.token, b.id, "group");
    expect((await bill(b.id)).groupImageJobId).toBe(job.jobId);
    expect(t.ai.submissions.at(-1)!.callbackUrl).toMatch(/group-result$/);
  });

  it("decides the type from the content: PNG bytes named .jpg and sent as image/jpeg are stored and handed over as PNG", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token);
    const png = await upload(alice.token, b.id, "bill", pngBytes(), "receipt.jpg", "image/jpeg");
    expect(png.status).toBe(202);
    expect((await t.db.prisma.imageJob.findUniqueOrThrow({ where: { id: png.body.jobId } })).mimeType).toBe("image/png");
    expect(t.ai.submissions.at(-1)).toMatchObject({ jobId: png.body.jobId, mimeType: "image/png" });
    const jpeg = await upload(alice.token, b.id, "group", jpegBytes(), "group.png", "image/png");
    expect(jpeg.status).toBe(202);
    expect((await t.db.prisma.imageJob.findUniqueOrThrow({ where: { id: jpeg.body.jobId } })).mimeType).toBe("image/jpeg");
  });

  it.each([
    ["backslash traversal", "..\\..\\windows\\system32\\receipt.png"],
    ["an absolute path", "/etc/cron.d/receipt.png"],
    ["an encoded traversal", "%2e%2e%2f%2e%2e%2freceipt.png"],
    ["a long unicode name", `${"💸".repeat(200)}.png`],
  ])("stores a file named with %s under a generated name inside the upload folder", async (_kind, filename) => {
    const alice = await user();
    const b = await createBill(t, alice.token);
    const before = t.uploadedFiles();
    expect((await upload(alice.token, b.id, "bill", pngBytes(), filename)).status).toBe(202);
    const added = t.uploadedFiles().filter((f) => !before.includes(f));
    expect(added).toEqual([(await bill(b.id)).billImagePath]);
    expect(added[0]).toMatch(/^[0-9a-f-]{36}$/);
  });

  describe("refusals leave no file behind", () => {
    let files: string[];
    beforeEach(() => {
      files = t.uploadedFiles();
    });
    afterEach(() => {
      expect(t.uploadedFiles()).toEqual(files);
    });

    it("no file: 400 naming the field", async () => {
      const alice = await user();
      const b = await createBill(t, alice.token);
      const res = await as(t, alice.token).post(`/bills/${b.id}/bill-image`).field("image", "text, not a file");
      expectProblem(res, 400, "validation_failed");
      expect(res.body.issues[0].path).toBe("image");
    });

    it.each([
      ["status", "completed"],
      ["paymentStatus", "paid"],
      ["billId", "01a207c9-a789-71bc-bab2-18da81c8123d"],
      ["__proto__", "x"],
    ])("a form field beside the image (%s): 400 naming it, no job", async (field, value) => {
      const alice = await user();
      const b = await createBill(t, alice.token);
      const res = await as(t, alice.token).post(`/bills/${b.id}/bill-image`).field(field, value).attach("image", pngBytes(), "a.png");
      expectProblem(res, 400, "validation_failed");
      expect(res.body.issues.map((i: { path: string }) => i.path)).toEqual([field]);
      expect(await bill(b.id)).toMatchObject({ billImageJobId: null, billImagePath: null, status: "created" });
    });

    it.each([
      ["no boundary", "multipart/form-data", "--x\r\n"],
      [
        "a body cut short",
        "multipart/form-data; boundary=xyz",
        '--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG',
      ],
      ["a broken part header", "multipart/form-data; boundary=xyz", "--xyz\r\nno colon here\r\n\r\nx\r\n--xyz--\r\n"],
    ])("a malformed multipart body (%s): 400", async (_kind, type, body) => {
      const alice = await user();
      const b = await createBill(t, alice.token);
      expectProblem(await as(t, alice.token).post(`/bills/${b.id}/bill-image`).set("Content-Type", type).send(body), 400, "invalid_upload");
    });

    it("a file in another field: 400", async () => {
      const alice = await user();
      const b = await createBill(t, alice.token);
      const res = await as(t, alice.token).post(`/bills/${b.id}/bill-image`).attach("photo", pngBytes(), "a.png");
      expectProblem(res, 400, "invalid_upload");
    });

    it("a text file disguised as a JPEG: 415", async () => {
      const alice = await user();
      const b = await createBill(t, alice.token);
      const res = await upload(alice.token, b.id, "bill", Buffer.from("#!/bin/sh\necho not an image\n"), "receipt.jpg", "image/jpeg");
      expectProblem(res, 415, "not_an_image");
      expect((await bill(b.id)).billImageJobId).toBeNull();
    });

    it("a truncated PNG or JPEG: 415", async () => {
      const alice = await user();
      const b = await createBill(t, alice.token);
      const cutPng = pngBytes(2048).subarray(0, 1500);
      const cutJpeg = jpegBytes(2048).subarray(0, 1500);
      expectProblem(await upload(alice.token, b.id, "bill", cutPng), 415, "truncated_image");
      expectProblem(await upload(alice.token, b.id, "bill", cutJpeg, "r.jpg", "image/jpeg"), 415, "truncated_image");
    });

    it("an upload aborted half-way", async () => {
      const alice = await user();
      const b = await createBill(t, alice.token);
      const server = createServer(t.app);
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      try {
        const boundary = "----abort";
        await new Promise<void>((resolve) => {
          const req = httpRequest({
            host: "127.0.0.1",
            port: (server.address() as AddressInfo).port,
            method: "POST",
            path: `/api/chillbill/bills/${b.id}/bill-image`,
            headers: { authorization: `Bearer ${alice.token}`, "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": 100_000 },
          });
          req.on("error", () => resolve());
          req.write(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`);
          req.write(pngBytes(3000));
          setTimeout(() => {
            req.destroy();
            resolve();
          }, 200);
        });
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        server.closeAllConnections();
        server.close();
      }
      expect((await bill(b.id)).billImageJobId).toBeNull();
    });

    it("an empty file: 415", async () => {
      const alice = await user();
      const b = await createBill(t, alice.token);
      expectProblem(await upload(alice.token, b.id, "bill", Buffer.alloc(0)), 415);
    });

    it("over the size limit: 413", async () => {
      const alice = await user();
      const b = await createBill(t, alice.token);
      expectProblem(await upload(alice.token, b.id, "bill", pngBytes(8192)), 413, "file_too_large");
    });

    it.each(["cancelled", "completed"] as const)("a %s bill: 409", async (status) => {
      const alice = await user();
      const b = await createBill(t, alice.token);
      await t.db.prisma.bill.update({ where: { id: b.id }, data: { status } });
      expectProblem(await upload(alice.token, b.id, "group", pngBytes()), 409, "bill_closed");
    });

    it("someone else's bill: 404", async () => {
      const [alice, mallory] = [await user(), await user()];
      const b = await createBill(t, alice.token);
      expectProblem(await upload(mallory.token, b.id, "bill", pngBytes()), 404);
      expect((await bill(b.id)).billImageJobId).toBeNull();
    });

    it("no token: 401; a bad bill id: 400", async () => {
      const alice = await user();
      expectProblem(await request(t.app).post(`${API}/bills/${newUserId()}/bill-image`).attach("image", pngBytes(), "a.png"), 401);
      expectProblem(await upload(alice.token, "not-a-uuid", "bill", pngBytes()), 400);
    });
  });

  it("uploading again replaces the image and the job; the old job's late callback is refused", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token, { totalAmount: undefined, currency: undefined, merchantName: undefined });
    const first = await uploaded(alice.token, b.id);
    const firstFile = (await bill(b.id)).billImagePath!;
    const second = await uploaded(alice.token, b.id);
    expect(t.uploadedFiles()).not.toContain(firstFile);
    expect(await t.db.prisma.imageJob.findUniqueOrThrow({ where: { id: first.jobId } })).toMatchObject({
      state: "failed",
      error: "Replaced by a newer upload",
    });

    const late = await signedCallback(t, `/internal/bills/${b.id}/bill-result`, {
      jobId: first.jobId,
      status: "completed",
      result: { total_amount: 1, currency: "USD", merchant_name: "Old" },
    });
    expectProblem(late, 409, "job_not_current");
    const fresh = await signedCallback(t, `/internal/bills/${b.id}/bill-result`, {
      jobId: second.jobId,
      status: "completed",
      result: { total_amount: 100, currency: "USD", merchant_name: "New" },
    });
    expect(fresh.status).toBe(200);
    expect(await bill(b.id)).toMatchObject({ merchantName: "New" });
  });

  it("accepts the upload when the AI service is unreachable, and leaves the job for the recovery sweep", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token);
    t.ai.failWith = new Error("connect ECONNREFUSED");
    try {
      const res = await upload(alice.token, b.id, "bill", pngBytes());
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ state: "pending", error: "Could not hand the image to the AI service; it will be tried again" });
      expect(JSON.stringify(res.body)).not.toContain("ECONNREFUSED");
    } finally {
      t.ai.failWith = undefined;
    }
  });

  it("keeps the AI service's id of each image's current job on the bill (ai_bill_id, ai_group_id), and follows a new upload", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token);
    const aiIds = async () =>
      (
        await t.db.sql.query<{ ai_bill_id: string | null; ai_group_id: string | null }>("SELECT ai_bill_id, ai_group_id FROM bills WHERE id = $1::uuid", [b.id])
      )[0];
    const aiJobIdOf = async (jobId: string) => (await t.db.prisma.imageJob.findUniqueOrThrow({ where: { id: jobId } })).aiJobId;

    const first = await uploaded(alice.token, b.id, "bill");
    const group = await uploaded(alice.token, b.id, "group");
    const firstAiId = await aiJobIdOf(first.jobId);
    expect(firstAiId).toEqual(expect.any(String));
    expect(await aiIds()).toEqual({ ai_bill_id: firstAiId, ai_group_id: await aiJobIdOf(group.jobId) });

    const second = await uploaded(alice.token, b.id, "bill");
    expect((await aiIds()).ai_bill_id).toBe(await aiJobIdOf(second.jobId));
    expect((await aiIds()).ai_bill_id).not.toBe(firstAiId);

    // A new upload the AI service did not take yet has no AI id: the previous job's id goes with it.
    t.ai.failWith = new Error("connect ECONNREFUSED");
    let third: { jobId: string };
    try {
      third = (await upload(alice.token, b.id, "bill", pngBytes())).body;
    } finally {
      t.ai.failWith = undefined;
    }
    expect((await aiIds()).ai_bill_id).toBeNull();
    // Handed over again (as the recovery sweep does): the id arrives on the job and the bill together.
    await t.app.locals.services.images.dispatch(third.jobId);
    expect((await aiIds()).ai_bill_id).toBe(await aiJobIdOf(third.jobId));
    expect((await aiIds()).ai_bill_id).toEqual(expect.any(String));
  });
});

describe("GET /bills/:billId/processing-status", () => {
  it("reports none, then processing, then completed with timestamps and the AI job id", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token);
    const none = await as(t, alice.token).get(`/bills/${b.id}/processing-status`);
    expect(none.body).toMatchObject({ billId: b.id, aiProcessed: false, billImage: { state: "none", jobId: null }, groupImage: { state: "none" } });

    const job = await uploaded(alice.token, b.id);
    const processing = await as(t, alice.token).get(`/bills/${b.id}/processing-status`);
    expect(processing.body.billImage).toMatchObject({
      jobId: job.jobId,
      state: "processing",
      aiJobId: expect.any(String),
      uploadedAt: expect.any(String),
      completedAt: null,
    });

    await signedCallback(t, `/internal/bills/${b.id}/bill-result`, { jobId: job.jobId, status: "completed", result: { merchant_name: "X" } });
    const done = await as(t, alice.token).get(`/bills/${b.id}/processing-status`);
    expect(done.body).toMatchObject({ aiProcessed: true, billImage: { state: "completed", completedAt: expect.any(String) }, groupImage: { state: "none" } });
  });

  it("reports a failure with its reason, and a new upload starts over", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token);
    const job = await uploaded(alice.token, b.id, "group");
    const res = await signedCallback(t, `/internal/bills/${b.id}/group-result`, { jobId: job.jobId, status: "failed", error: "No faces found" });
    expect(res.body).toEqual({ jobId: job.jobId, state: "failed", applied: true });
    const status = await as(t, alice.token).get(`/bills/${b.id}/processing-status`);
    expect(status.body.groupImage).toMatchObject({ state: "failed", error: "No faces found" });
    const again = await uploaded(alice.token, b.id, "group");
    expect((await as(t, alice.token).get(`/bills/${b.id}/processing-status`)).body.groupImage).toMatchObject({ jobId: again.jobId, state: "processing" });
  });

  it("is readable by a bank-customer participant and 404 for anyone else", async () => {
    const [alice, bob, mallory] = [await user(), await user(), await user()];
    const b = await createBill(t, alice.token);
    await insertParticipant(t, b.id, { name: "Bob", userId: bob.id });
    expect((await as(t, bob.token).get(`/bills/${b.id}/processing-status`)).status).toBe(200);
    expectProblem(await as(t, mallory.token).get(`/bills/${b.id}/processing-status`), 404);
  });
});

describe("POST /internal/bills/:billId/bill-result", () => {
  const result = {
    total_amount: 100,
    currency: "USD",
    merchant_name: "Test Restaurant",
    bill_date: "2026-11-19",
    line_items: [
      { name: "Pho", quantity: 2, unit_price: "30.00", amount: "60.00" },
      { name: "Tea", amount: 40 },
    ],
  };

  it("fills an empty bill, sets ai_processed and keeps the line items", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token, { totalAmount: undefined, currency: undefined, merchantName: undefined, billDate: undefined });
    const job = await uploaded(alice.token, b.id);
    const res = await signedCallback(t, `/internal/bills/${b.id}/bill-result`, { jobId: job.jobId, status: "completed", result });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ jobId: job.jobId, state: "completed", applied: true });
    const details = await as(t, alice.token).get(`/bills/${b.id}`);
    expect(details.body).toMatchObject({ totalAmount: "100.00", currency: "USD", merchantName: "Test Restaurant", billDate: "2026-11-19", aiProcessed: true });
    expect((await bill(b.id)).lineItems).toEqual([
      { name: "Pho", quantity: 2, unit_price: "30.00", amount: "60.00" },
      { name: "Tea", amount: "40" },
    ]);
  });

  it("never overwrites what the user set by hand", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token, { totalAmount: "90.00", currency: "USD", merchantName: "My name for it", billDate: undefined });
    const job = await uploaded(alice.token, b.id);
    await signedCallback(t, `/internal/bills/${b.id}/bill-result`, { jobId: job.jobId, status: "completed", result });
    expect(await bill(b.id)).toMatchObject({ merchantName: "My name for it", currency: "USD", aiProcessed: true });
    expect((await bill(b.id)).totalAmount?.toString()).toBe("90");
    expect((await bill(b.id)).billDate?.toISOString()).toBe("2026-11-19T00:00:00.000Z");
  });

  it("keeps the currency of a total the user set by hand, and never stores a total its currency cannot hold", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token, { totalAmount: undefined, currency: undefined, merchantName: undefined });
    const first = await uploaded(alice.token, b.id);
    await signedCallback(t, `/internal/bills/${b.id}/bill-result`, { jobId: first.jobId, status: "completed", result });
    await as(t, alice.token).put(`/bills/${b.id}`).send({ totalAmount: "12.34" });
    const second = await uploaded(alice.token, b.id);
    await signedCallback(t, `/internal/bills/${b.id}/bill-result`, {
      jobId: second.jobId,
      status: "completed",
      result: { total_amount: 250000, currency: "VND", merchant_name: "Read again" },
    });
    const row = await bill(b.id);
    expect(row).toMatchObject({ currency: "USD", merchantName: "Read again" });
    expect(row.totalAmount?.toString()).toBe("12.34");

    const empty = await createBill(t, alice.token, { totalAmount: undefined, currency: undefined });
    const job = await uploaded(alice.token, empty.id);
    await signedCallback(t, `/internal/bills/${empty.id}/bill-result`, {
      jobId: job.jobId,
      status: "completed",
      result: { total_amount: "10.5", currency: "JPY" },
    });
    expect(await bill(empty.id)).toMatchObject({ totalAmount: null, currency: null, aiProcessed: true });
  });

  it("fills a CLF total to the fourth decimal", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token, { totalAmount: undefined, currency: undefined });
    const job = await uploaded(alice.token, b.id);
    await signedCallback(t, `/internal/bills/${b.id}/bill-result`, {
      jobId: job.jobId,
      status: "completed",
      result: { total_amount: "10.0001", currency: "CLF" },
    });
    expect((await as(t, alice.token).get(`/bills/${b.id}`)).body).toMatchObject({ totalAmount: "10.0001", currency: "CLF" });
  });

  it.each([
    ["a total as a string", { total_amount: "1000000000000000", currency: "USD" }, "result.total_amount"],
    ["a total as a JSON number", { total_amount: 1e15, currency: "USD" }, "result.total_amount"],
    ["a line item's amount", { line_items: [{ name: "Pho", amount: "1000000000000000" }] }, "result.line_items.0.amount"],
    ["a line item's unit price", { line_items: [{ name: "Pho", unit_price: "1000000000000000", amount: "1" }] }, "result.line_items.0.unit_price"],
  ])("refuses %s too large to store with 400 naming it, never 500, and applies nothing", async (_label, aiResult, field) => {
    const alice = await user();
    const b = await createBill(t, alice.token, { totalAmount: undefined, currency: undefined, merchantName: undefined });
    const job = await uploaded(alice.token, b.id);
    const res = await signedCallback(t, `/internal/bills/${b.id}/bill-result`, {
      jobId: job.jobId,
      status: "completed",
      result: { merchant_name: "X", ...aiResult },
    });
    expectProblem(res, 400, "validation_failed");
    expect(res.body.detail).toBe(`${field}: is too large: at most 15 digits before the point`);
    expect(await bill(b.id)).toMatchObject({ totalAmount: null, merchantName: null, aiProcessed: false });
  });

  it("lets a later AI result replace an earlier AI result on a bill created empty", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token, { totalAmount: undefined, currency: undefined, merchantName: undefined });
    const first = await uploaded(alice.token, b.id);
    await signedCallback(t, `/internal/bills/${b.id}/bill-result`, { jobId: first.jobId, status: "completed", result });
    const second = await uploaded(alice.token, b.id);
    await signedCallback(t, `/internal/bills/${b.id}/bill-result`, {
      jobId: second.jobId,
      status: "completed",
      result: { ...result, total_amount: "120.50", merchant_name: "Better read" },
    });
    expect(await bill(b.id)).toMatchObject({ merchantName: "Better read" });
    expect((await bill(b.id)).totalAmount?.toString()).toBe("120.5");
  });

  it("is idempotent: the same result twice changes nothing the second time", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token, { merchantName: undefined });
    const job = await uploaded(alice.token, b.id);
    const body = { jobId: job.jobId, status: "completed", result };
    expect((await signedCallback(t, `/internal/bills/${b.id}/bill-result`, body)).body.applied).toBe(true);
    await as(t, alice.token).put(`/bills/${b.id}`).send({ merchantName: null });
    const again = await signedCallback(t, `/internal/bills/${b.id}/bill-result`, body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ jobId: job.jobId, state: "completed", applied: false });
    expect((await bill(b.id)).merchantName).toBeNull();
  });

  it("does not move the total once payment requests are out", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token, { totalAmount: undefined, currency: undefined });
    const job = await uploaded(alice.token, b.id);
    await t.db.prisma.bill.update({ where: { id: b.id }, data: { status: "active" } });
    await signedCallback(t, `/internal/bills/${b.id}/bill-result`, { jobId: job.jobId, status: "completed", result });
    expect(await bill(b.id)).toMatchObject({ totalAmount: null, currency: null, merchantName: "Test Restaurant" });
  });

  it("records the answer but changes nothing on a cancelled bill", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token, { merchantName: undefined });
    const job = await uploaded(alice.token, b.id);
    await as(t, alice.token).delete(`/bills/${b.id}`);
    const res = await signedCallback(t, `/internal/bills/${b.id}/bill-result`, { jobId: job.jobId, status: "completed", result });
    expect(res.body).toEqual({ jobId: job.jobId, state: "completed", applied: false });
    expect((await bill(b.id)).merchantName).toBeNull();
  });

  describe("signature", () => {
    let billId: string;
    let body: object;
    beforeAll(async () => {
      const alice = await user();
      billId = (await createBill(t, alice.token)).id;
      body = { jobId: (await uploaded(alice.token, billId)).jobId, status: "completed", result };
    });
    afterEach(async () => {
      expect((await bill(billId)).aiProcessed).toBe(false);
    });

    it.each([
      ["missing", { header: null }, "signature_missing"],
      ["made with another secret", { secret: "not-the-shared-secret" }, "signature_mismatch"],
      ["older than 5 minutes", { at: new Date(clock.now().getTime() - 301_000) }, "signature_stale"],
      ["malformed", { header: "sha256=abc" }, "signature_malformed"],
    ])("refuses a signature that is %s with 401", async (_label, options, code) => {
      expectProblem(await signedCallback(t, `/internal/bills/${billId}/bill-result`, body, options), 401, code);
    });

    it("refuses a body changed after signing", async () => {
      const raw = JSON.stringify(body);
      const header = signPayload(TEST_AI_SECRET, raw, Math.floor(clock.now().getTime() / 1000));
      const tampered = raw.replace('"total_amount":100', '"total_amount":1');
      expectProblem(await signedCallback(t, `/internal/bills/${billId}/bill-result`, tampered, { header }), 401, "signature_mismatch");
    });

    it("refuses a user's bearer token in place of a signature", async () => {
      const alice = await user();
      const res = await request(t.app).post(`${API}/internal/bills/${billId}/bill-result`).set("Authorization", `Bearer ${alice.token}`).send(body);
      expectProblem(res, 401, "signature_missing");
    });
  });

  it.each([
    [{ status: "completed", result: {} }, "jobId"],
    [{ jobId: "01a207c9-a789-71bc-bab2-18da81c8123d", status: "done" }, "status"],
    [{ jobId: "01a207c9-a789-71bc-bab2-18da81c8123d", status: "completed", result: { total_amount: -1 } }, "result.total_amount"],
    [{ jobId: "01a207c9-a789-71bc-bab2-18da81c8123d", status: "completed", result: { currency: "XXX" } }, "result.currency"],
  ])("refuses an invalid signed body %j with 400 naming %s", async (body, field) => {
    const alice = await user();
    const b = await createBill(t, alice.token);
    const res = await signedCallback(t, `/internal/bills/${b.id}/bill-result`, body);
    expectProblem(res, 400);
    expect(res.body.issues.map((i: { path: string }) => i.path)).toContain(field);
  });

  it("refuses signed JSON that does not parse with 400, and an unknown bill with 404", async () => {
    expectProblem(await signedCallback(t, `/internal/bills/${newUserId()}/bill-result`, "{oops"), 400, "malformed_json");
    const res = await signedCallback(t, "/internal/bills/01a207c9-a789-71bc-bab2-18da81c8123d/bill-result", {
      jobId: "01a207c9-a789-71bc-bab2-18da81c8123d",
      status: "failed",
      error: "x",
    });
    expectProblem(res, 404);
  });

  it("refuses a job id the bill never had with 409", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token);
    await uploaded(alice.token, b.id);
    const res = await signedCallback(t, `/internal/bills/${b.id}/bill-result`, {
      jobId: "01a207c9-a789-71bc-bab2-18da81c8123d",
      status: "failed",
      error: "x",
    });
    expectProblem(res, 409, "job_not_current");
  });
});

describe("POST /internal/bills/:billId/group-result", () => {
  const people = {
    participants: [
      { face_id: "face-alice", name: "Alice", phone: "+84901234567", confidence: 0.97 },
      { face_id: "face-bob", name: "Bob", confidence: 0.9 },
    ],
  };

  it("adds the recognised people, marking the bank's customers, once however often it is sent", async () => {
    const creator = await user();
    const b = await createBill(t, creator.token);
    const job = await uploaded(creator.token, b.id, "group");
    const body = { jobId: job.jobId, status: "completed", result: people };
    expect((await signedCallback(t, `/internal/bills/${b.id}/group-result`, body)).body.applied).toBe(true);
    expect((await signedCallback(t, `/internal/bills/${b.id}/group-result`, body)).body.applied).toBe(false);

    const details = await as(t, creator.token).get(`/bills/${b.id}`);
    const alice = SEEDED_BANK_USERS[0];
    expect(details.body.participants).toEqual([
      expect.objectContaining({ name: "Alice", userId: alice.userId, isBankCustomer: true, phone: alice.phone, email: alice.email, paymentStatus: "pending" }),
      expect.objectContaining({ name: "Bob", userId: null, isBankCustomer: false, phone: null }),
    ]);
    const faces = await t.db.prisma.participant.findMany({
      where: { billId: b.id },
      select: { aiFaceId: true },
      orderBy: [{ createdAt: "asc" }, { id: "asc" }],
    });
    expect(faces.map((f) => f.aiFaceId).sort()).toEqual(["face-alice", "face-bob"]);
    const history = await t.db.prisma.statusHistory.findMany({ where: { billId: b.id, entityType: "participant" } });
    expect(history).toHaveLength(2);
    expect(history[0]).toMatchObject({ previousStatus: null, newStatus: "pending", changedBy: "system" });
  });

  it("links a face to a participant already on the bill instead of adding them twice", async () => {
    const creator = await user();
    const b = await createBill(t, creator.token);
    await insertParticipant(t, b.id, { name: "Alice B.", userId: SEEDED_BANK_USERS[0].userId });
    const job = await uploaded(creator.token, b.id, "group");
    await signedCallback(t, `/internal/bills/${b.id}/group-result`, { jobId: job.jobId, status: "completed", result: people });
    const rows = await t.db.prisma.participant.findMany({ where: { billId: b.id }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
    expect(rows.map((p) => [p.name, p.aiFaceId])).toEqual([
      ["Alice B.", "face-alice"],
      ["Bob", "face-bob"],
    ]);
  });

  it("links a recognised bank customer to a guest who already has their phone", async () => {
    const creator = await user();
    const b = await createBill(t, creator.token);
    await as(t, creator.token).post(`/bills/${b.id}/participants`).send({ name: "Guest", phone: "+84999999999" });
    await t.db.prisma.participant.updateMany({ where: { billId: b.id }, data: { phone: SEEDED_BANK_USERS[0].phone } });
    const job = await uploaded(creator.token, b.id, "group");
    const res = await signedCallback(t, `/internal/bills/${b.id}/group-result`, {
      jobId: job.jobId,
      status: "completed",
      result: { participants: [{ face_id: "face-a", email: SEEDED_BANK_USERS[0].email }] },
    });
    expect(res.status).toBe(200);
    const rows = await t.db.prisma.participant.findMany({ where: { billId: b.id } });
    expect(rows.map((p) => [p.name, p.aiFaceId])).toEqual([["Guest", "face-a"]]);
  });

  it("a new photo adds only the new faces", async () => {
    const creator = await user();
    const b = await createBill(t, creator.token);
    const first = await uploaded(creator.token, b.id, "group");
    await signedCallback(t, `/internal/bills/${b.id}/group-result`, { jobId: first.jobId, status: "completed", result: people });
    const second = await uploaded(creator.token, b.id, "group");
    await signedCallback(t, `/internal/bills/${b.id}/group-result`, {
      jobId: second.jobId,
      status: "completed",
      result: { participants: [...people.participants, { face_id: "face-carol", email: "carol@example.com" }] },
    });
    const rows = await t.db.prisma.participant.findMany({ where: { billId: b.id }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
    expect(rows.map((p) => [p.name, p.isBankCustomer])).toEqual([
      ["Alice", true],
      ["Bob", false],
      ["Carol", true],
    ]);
  });
});

describe("POST /internal/bills/:billId/group-result with the spec's dummy shape (bare names)", () => {
  it("adds each name once, guests without a face id; the same callback again is a no-op", async () => {
    const creator = await user();
    const b = await createBill(t, creator.token);
    const job = await uploaded(creator.token, b.id, "group");
    const body = { jobId: job.jobId, status: "completed", result: { participants: ["Alice", "Bob", " alice "] } };
    const first = await signedCallback(t, `/internal/bills/${b.id}/group-result`, body);
    expect(first.status).toBe(200);
    expect(first.body.applied).toBe(true);
    expect((await signedCallback(t, `/internal/bills/${b.id}/group-result`, body)).body.applied).toBe(false);
    const rows = await t.db.prisma.participant.findMany({ where: { billId: b.id }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
    expect(rows.map((p) => [p.name, p.aiFaceId, p.isBankCustomer])).toEqual([
      ["Alice", null, false],
      ["Bob", null, false],
    ]);
  });

  it('a second photo naming "alice" matches the participant named Alice (case-insensitive, face id or not) and adds only the new names', async () => {
    const creator = await user();
    const b = await createBill(t, creator.token);
    const first = await uploaded(creator.token, b.id, "group");
    await signedCallback(t, `/internal/bills/${b.id}/group-result`, {
      jobId: first.jobId,
      status: "completed",
      result: { participants: ["Alice", { face_id: "face-bob", name: "Bob" }] },
    });
    const second = await uploaded(creator.token, b.id, "group");
    const res = await signedCallback(t, `/internal/bills/${b.id}/group-result`, {
      jobId: second.jobId,
      status: "completed",
      result: { participants: ["alice", "BOB", "Carol"] },
    });
    expect(res.body.applied).toBe(true);
    const rows = await t.db.prisma.participant.findMany({ where: { billId: b.id }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
    expect(rows.map((p) => [p.name, p.aiFaceId])).toEqual([
      ["Alice", null],
      ["Bob", "face-bob"],
      ["Carol", null],
    ]);
  });

  it("refuses an empty name with 400", async () => {
    const creator = await user();
    const b = await createBill(t, creator.token);
    const job = await uploaded(creator.token, b.id, "group");
    const res = await signedCallback(t, `/internal/bills/${b.id}/group-result`, { jobId: job.jobId, status: "completed", result: { participants: ["  "] } });
    expectProblem(res, 400, "validation_failed");
  });
});

describe("recovery of stuck jobs", () => {
  it("leaves alone a job answered, replaced or on a closed bill while it waited", async () => {
    const alice = await user();
    const answered = await createBill(t, alice.token);
    const answeredJob = await uploaded(alice.token, answered.id);
    const replaced = await createBill(t, alice.token);
    const replacedJob = await uploaded(alice.token, replaced.id);
    await uploaded(alice.token, replaced.id);
    clock.advance(61_000);
    await signedCallback(t, `/internal/bills/${answered.id}/bill-result`, { jobId: answeredJob.jobId, status: "failed", error: "blurry" });
    const before = t.ai.submissions.length;
    await t.app.locals.services.images.recoverStaleJobs();
    const resent = t.ai.submissions.slice(before).map((s) => s.jobId);
    expect(resent).not.toContain(answeredJob.jobId);
    expect(resent).not.toContain(replacedJob.jobId);
    expect(await t.db.prisma.imageJob.findUniqueOrThrow({ where: { id: answeredJob.jobId } })).toMatchObject({ state: "failed", error: "blurry", attempts: 1 });
  });

  it("hands a job over once when two sweeps overlap", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token);
    const job = await uploaded(alice.token, b.id);
    clock.advance(61_000);
    const before = t.ai.submissions.length;
    const images = t.app.locals.services.images;
    await Promise.all([images.recoverStaleJobs(), images.recoverStaleJobs(), images.dispatch(job.jobId, { attempts: 1, lastAttemptAt: { lt: clock.now() } })]);
    expect(t.ai.submissions.slice(before).filter((s) => s.jobId === job.jobId)).toHaveLength(1);
    expect((await t.db.prisma.imageJob.findUniqueOrThrow({ where: { id: job.jobId } })).attempts).toBe(2);
  });

  it("keeps a result that arrived while the hand-over was failing", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token, { merchantName: undefined });
    const original = t.ai.submit.bind(t.ai);
    t.ai.submit = async (job) => {
      await signedCallback(t, `/internal/bills/${b.id}/bill-result`, { jobId: job.jobId, status: "completed", result: { merchant_name: "Fast AI" } });
      throw new Error("read timeout");
    };
    try {
      const res = await upload(alice.token, b.id, "bill", pngBytes());
      expect(res.body).toMatchObject({ state: "completed", error: null });
    } finally {
      t.ai.submit = original;
    }
    expect(await bill(b.id)).toMatchObject({ merchantName: "Fast AI" });
  });

  it("hands a job the AI never answered to it again, then marks it failed after the last attempt", async () => {
    const alice = await user();
    const b = await createBill(t, alice.token);
    const job = await uploaded(alice.token, b.id);
    const images = t.app.locals.services.images;
    const submitted = t.ai.submissions.length;

    await images.recoverStaleJobs();
    expect(t.ai.submissions.length).toBe(submitted); // not stale yet

    clock.advance(61_000);
    await images.recoverStaleJobs();
    expect(t.ai.submissions.slice(submitted).map((s) => s.jobId)).toContain(job.jobId);
    expect(await t.db.prisma.imageJob.findUniqueOrThrow({ where: { id: job.jobId } })).toMatchObject({ state: "processing", attempts: 2 });

    clock.advance(61_000);
    await images.recoverStaleJobs();
    const failed = await t.db.prisma.imageJob.findUniqueOrThrow({ where: { id: job.jobId } });
    expect(failed).toMatchObject({ state: "failed", error: expect.stringContaining("did not answer after 2 attempt") });
    const status = await as(t, alice.token).get(`/bills/${b.id}/processing-status`);
    expect(status.body.billImage.state).toBe("failed");
  });
});
