// Bill and group images: store the upload, hand it to the AI service, track the job, and apply
// the AI's signed callbacks (idempotently, and only for the bill's current job of that image).
import type { Logger } from "pino";
import { v7 as uuidv7 } from "uuid";
import type { AiService, ImageKind } from "../../adapters/ai/ai-service";
import type { UserDirectory, BankUser } from "../../adapters/directory/user-directory";
import type { FileStore } from "../../adapters/storage/file-store";
import type { Clock } from "../../clock";
import type { Db } from "../../db/database";
import { appendEvents } from "../../events/events.store";
import { assertEditable } from "../../domain/bill-status";
import { billNotFound, Conflict, NotFound, UnsupportedMediaType } from "../../domain/errors";
import { looksComplete, sniffImageType, SNIFF_BYTES, TAIL_BYTES } from "../../domain/image-type";
import { amountProblem, toDecimal } from "../../domain/money";
import type { Prisma } from "../../generated/prisma/client";
import type { AuthUser } from "../../http/auth";
import type { BillsRepository } from "../bills";
import type { Sql, SqlClient } from "../../db/sql";
import { isPresent } from "../../ledger/decide";
import type { Ledger, Written } from "../../ledger/ledger";
import type { BillDetails, NewPerson } from "../../ledger/model";
import { lockBill, readState } from "../../ledger/store";
import type { BillResult, GroupResult, RecognisedPerson } from "./images.schemas";

type ImageJobRow = Prisma.ImageJobGetPayload<object>;

export interface StoredUpload {
  fileName: string;
  size: number;
}

export interface ImagesOptions {
  jobTimeoutMs: number;
  maxAttempts: number;
  /** The base URL the AI service calls back (our own internal endpoints). */
  callbackBaseUrl: () => string;
}

const jobColumn = (kind: ImageKind) => (kind === "bill" ? "billImageJobId" : "groupImageJobId");
const pathColumn = (kind: ImageKind) => (kind === "bill" ? "billImagePath" : "groupImagePath");
const aiIdColumn = (kind: ImageKind) => (kind === "bill" ? "aiBillId" : "aiGroupId");

/** What ImagesService is built from (the composition root, app.ts, passes them by name). */
export interface ImagesServiceDeps {
  db: Db;
  bills: BillsRepository;
  files: FileStore;
  ai: AiService;
  directory: UserDirectory;
  clock: Clock;
  logger: Logger;
  options: ImagesOptions;
  sql: Sql;
  ledger: Ledger;
}

export class ImagesService {
  private sweeping = false;

  constructor(private readonly deps: ImagesServiceDeps) {}

  /** Checked before the upload is read, so a refused request stores nothing. */
  async assertCanUpload(user: AuthUser, billId: string): Promise<void> {
    const bill = await this.deps.bills.findOwned(this.deps.db, billId, user.id);
    if (!bill) throw billNotFound();
    assertEditable(bill.status);
  }

  /**
   * Accepts a stored upload as the bill's new image of this kind: checks what the file really is,
   * makes it the current job, and hands it to the AI service once committed. On any refusal the
   * file is removed.
   */
  async acceptUpload(user: AuthUser, billId: string, kind: ImageKind, upload: StoredUpload) {
    let previousFile: string | null = null;
    let job: ImageJobRow;
    try {
      const head = await this.deps.files.head(upload.fileName, SNIFF_BYTES);
      const mimeType = sniffImageType(head);
      if (!mimeType) {
        throw new UnsupportedMediaType("The file is not a JPEG, PNG, WebP or HEIC image", "not_an_image");
      }
      const { tail, size } = await this.deps.files.tail(upload.fileName, TAIL_BYTES);
      if (!looksComplete(mimeType, head, tail, size)) {
        throw new UnsupportedMediaType(`The ${mimeType.slice(6).toUpperCase()} image is incomplete (cut short); upload it again`, "truncated_image");
      }
      job = await this.deps.db.$transaction(async (tx) => {
        const bill = await this.deps.bills.lockOwned(tx, billId, user.id);
        if (!bill) throw billNotFound();
        assertEditable(bill.status);
        previousFile = bill[pathColumn(kind)];
        const previousJobId = bill[jobColumn(kind)];
        if (previousJobId) {
          await tx.imageJob.updateMany({
            where: { id: previousJobId, state: { in: ["pending", "processing"] } },
            data: { state: "failed", error: "Replaced by a newer upload", completedAt: this.deps.clock.now() },
          });
        }
        const created = await tx.imageJob.create({
          data: {
            id: uuidv7(),
            billId,
            kind,
            fileName: upload.fileName,
            mimeType,
            sizeBytes: upload.size,
            createdAt: this.deps.clock.now(),
          },
        });
        // Not money state (which image, which job), so not a ledger command. The new job has no AI
        // id yet: the previous job's id goes with it.
        await tx.bill.update({ where: { id: billId }, data: { [jobColumn(kind)]: created.id, [pathColumn(kind)]: upload.fileName, [aiIdColumn(kind)]: null } });
        return created;
      });
    } catch (err) {
      await this.deps.files.remove(upload.fileName);
      throw err;
    }
    if (previousFile && previousFile !== upload.fileName) {
      await this.deps.files.remove(previousFile).catch((err) => this.deps.logger.warn({ err }, "could not remove a replaced image"));
    }
    const dispatched = await this.dispatch(job.id);
    return presentJob(kind, dispatched ?? (await this.deps.db.imageJob.findUniqueOrThrow({ where: { id: job.id } })));
  }

  /**
   * Hands a job to the AI service (again). The job is claimed with a conditional update, so a job
   * that was answered, replaced or claimed by another sweep meanwhile is left alone; a failed
   * hand-over puts it back to pending (only if it is still ours) for the recovery sweep.
   */
  async dispatch(jobId: string, claim: Prisma.ImageJobWhereInput = {}): Promise<ImageJobRow | undefined> {
    const claimed = await this.deps.db.imageJob.updateMany({
      where: { id: jobId, state: { in: ["pending", "processing"] }, ...claim },
      data: { attempts: { increment: 1 }, lastAttemptAt: this.deps.clock.now(), state: "processing", error: null },
    });
    if (claimed.count === 0) return undefined;
    const job = await this.deps.db.imageJob.findUniqueOrThrow({ where: { id: jobId } });
    try {
      const { aiJobId } = await this.deps.ai.submit({
        jobId: job.id,
        billId: job.billId,
        kind: job.kind,
        filePath: this.deps.files.pathOf(job.fileName),
        mimeType: job.mimeType,
        callbackUrl: `${this.deps.options.callbackBaseUrl()}/api/chillbill/internal/bills/${job.billId}/${job.kind}-result`,
      });
      if (aiJobId) await this.recordAiJobId(job.id, job.kind, aiJobId);
    } catch (err) {
      this.deps.logger.warn({ err, jobId }, "the AI service did not take the job; the recovery sweep will try again");
      await this.deps.db.imageJob.updateMany({
        where: { id: jobId, state: "processing", attempts: job.attempts },
        data: { state: "pending", error: "Could not hand the image to the AI service; it will be tried again" },
      });
    }
    return this.deps.db.imageJob.findUniqueOrThrow({ where: { id: jobId } });
  }

  /**
   * The AI service's id for the job, on the job and (while it is the current one) on its bill as
   * ai_bill_id / ai_group_id, in one transaction so the two never disagree. A job replaced meanwhile
   * keeps its id, and the bill keeps its current job's. Not money state: no ledger command.
   */
  private async recordAiJobId(jobId: string, kind: ImageKind, aiJobId: string): Promise<void> {
    await this.deps.db.$transaction([
      this.deps.db.imageJob.updateMany({ where: { id: jobId }, data: { aiJobId } }),
      this.deps.db.bill.updateMany({ where: { [jobColumn(kind)]: jobId }, data: { [aiIdColumn(kind)]: aiJobId } }),
    ]);
  }

  async processingStatus(user: AuthUser, billId: string) {
    const bill = await this.deps.bills.findVisible(billId, user.id);
    if (!bill) throw billNotFound();
    const ids = [bill.billImageJobId, bill.groupImageJobId].filter((id): id is string => Boolean(id));
    const jobs = ids.length ? await this.deps.db.imageJob.findMany({ where: { id: { in: ids } } }) : [];
    const byId = new Map(jobs.map((j) => [j.id, j]));
    return {
      billId,
      aiProcessed: bill.aiProcessed,
      billImage: presentJob("bill", bill.billImageJobId ? byId.get(bill.billImageJobId) : undefined),
      groupImage: presentJob("group", bill.groupImageJobId ? byId.get(bill.groupImageJobId) : undefined),
    };
  }

  async applyBillResult(billId: string, callback: BillResult) {
    return this.applyCallback(billId, "bill", callback, async (tx) => {
      if (callback.status !== "completed") return [];
      const ai = callback.result;
      const state = await readState(tx, billId);
      const { bill } = state;
      const canFill = (field: string) => !bill.userSetFields.includes(field);
      const details: BillDetails = {};
      // Once payment requests are out, the amounts people were asked for must not move. Total and
      // currency move together: the pair must stay valid, and a total set by hand keeps its currency.
      if (bill.status === "created") {
        const total = canFill("totalAmount") && ai.total_amount !== undefined ? ai.total_amount : (bill.total?.toFixed() ?? null);
        const currencyFree = canFill("currency") && (canFill("totalAmount") || bill.total === null);
        const currency = currencyFree && ai.currency ? ai.currency : bill.currency;
        if (total !== null && currency === null) {
          this.deps.logger.warn({ billId }, "AI total without a currency; not applied");
        } else if (total !== null && currency !== null && amountProblem(total, currency) !== undefined) {
          this.deps.logger.warn({ billId, total, currency }, "AI total does not fit the currency; not applied");
        } else {
          if (currency !== bill.currency) details.currency = currency;
          if (total !== null && (bill.total === null || !bill.total.equals(toDecimal(total)))) details.totalAmount = total;
        }
      }
      if (canFill("merchantName") && ai.merchant_name) details.merchantName = ai.merchant_name;
      if (canFill("billDate") && ai.bill_date) details.billDate = new Date(`${ai.bill_date}T00:00:00Z`);
      // What the AI read that is not money state (its line items, the processed flag) is written
      // here; the total and the other details go through the ledger below.
      await tx.query("UPDATE bills SET ai_processed = true, line_items = COALESCE($2::jsonb, line_items), updated_at = $3::timestamptz WHERE id = $1::uuid", [
        billId,
        ai.line_items ? JSON.stringify(ai.line_items) : null,
        this.deps.clock.now(),
      ]);
      // A new total reaches the split through the ledger (an equal split is recomputed, others flagged).
      return [await this.deps.ledger.decideAndWrite(tx, billId, "system", { kind: "update_bill", details, from: "ai" }, { state })];
    });
  }

  async applyGroupResult(billId: string, callback: GroupResult) {
    // Directory look-ups are outside calls: made before the transaction, not inside it.
    const recognised = callback.status === "completed" ? callback.result.participants : [];
    const known = await Promise.all(recognised.map((p) => (typeof p === "string" ? undefined : this.lookUp(p))));
    return this.applyCallback(billId, "group", callback, async (tx) => {
      if (callback.status !== "completed") return [];
      const state = await readState(tx, billId);
      const { bill, participants } = state;
      // The people on the bill now: a removed participant recognised again joins as someone new.
      const existing: { name: string; userId: string | null; phone: string | null; email: string | null; aiFaceId?: string | null; id?: string }[] =
        participants.filter(isPresent);
      const people: NewPerson[] = [];
      for (const [i, person] of recognised.entries()) {
        if (typeof person === "string") {
          // A bare name carries no identity but the name: it is the participant of that name
          // (trimmed, case-insensitive) if the bill has one, with or without a face id, so two
          // photos naming "Alice" add her once. A name is never linked to a face.
          const sameName = (p: { name: string }) => p.name.trim().toLowerCase() === person.toLowerCase();
          if (existing.some(sameName)) continue;
          const newPerson: NewPerson = { name: person, userId: null, phone: null, email: null, isBankCustomer: false, isCreator: false, aiFaceId: null };
          people.push(newPerson);
          existing.push(newPerson);
          continue;
        }
        const bankUser = known[i];
        if (existing.some((p) => p.aiFaceId === person.face_id)) continue;
        // Compare on the values we would store (the directory may add a phone or email).
        const phone = person.phone ?? bankUser?.phone ?? null;
        const email = person.email ?? bankUser?.email ?? null;
        const samePerson = existing.find((p) => (bankUser && p.userId === bankUser.userId) || (phone && p.phone === phone) || (email && p.email === email));
        if (samePerson) {
          if (!samePerson.aiFaceId && samePerson.id) {
            // The face id only (not money state); adding people goes through the ledger below.
            await tx.query("UPDATE participants SET ai_face_id = $2 WHERE id = $1::uuid", [samePerson.id, person.face_id]);
            samePerson.aiFaceId = person.face_id;
          }
          continue;
        }
        const newPerson: NewPerson = {
          name: person.name ?? bankUser?.name ?? `Guest ${existing.length + 1}`,
          userId: bankUser?.userId ?? null,
          phone,
          email,
          isBankCustomer: Boolean(bankUser),
          isCreator: bankUser?.userId === bill.creatorUserId,
          aiFaceId: person.face_id,
        };
        people.push(newPerson);
        existing.push(newPerson);
      }
      // The processed flag is not money state; the people it found join through the ledger below.
      await tx.query("UPDATE bills SET ai_processed = true, updated_at = $2::timestamptz WHERE id = $1::uuid", [billId, this.deps.clock.now()]);
      if (people.length === 0) return [];
      // The faces linked above are not money state: the state read before them still decides.
      return [
        await this.deps.ledger.decideAndWrite(
          tx,
          billId,
          "system",
          { kind: "add_participants", people, reason: "recognised in the group photo", from: "ai" },
          { state },
        ),
      ];
    });
  }

  private async lookUp(person: RecognisedPerson): Promise<BankUser | undefined> {
    return this.deps.directory.find({ userId: person.bank_user_id, phone: person.phone, email: person.email });
  }

  /**
   * The shared part of both callbacks: current job only, each job applied once, in one transaction
   * with the bill's lock; money changes go through the ledger in that same transaction, and the
   * `ai.result` live event is written in it too (under the lock: see events/events.store.ts).
   */
  private async applyCallback(billId: string, kind: ImageKind, callback: BillResult | GroupResult, apply: (tx: SqlClient) => Promise<Written[]>) {
    let decisions: Written[] = [];
    const answer = await this.deps.sql.transaction(async (tx) => {
      if (!(await lockBill(tx, billId, null))) throw new NotFound("No bill with this id", "bill_not_found");
      const [row] = await tx.query<{ status: string; current_job: string | null; state: string | null }>(
        `SELECT b.status::text AS status, ${kind === "bill" ? "b.bill_image_job_id" : "b.group_image_job_id"} AS current_job, j.state::text AS state
           FROM bills b LEFT JOIN image_jobs j ON j.id = $2::uuid WHERE b.id = $1::uuid`,
        [billId, callback.jobId],
      );
      if (row.current_job !== callback.jobId) {
        throw new Conflict(`Job ${callback.jobId} is not the bill's current ${kind} image job`, "job_not_current");
      }
      if (row.state === "completed" || row.state === "failed") return { jobId: callback.jobId, state: row.state, applied: false };
      // A closed bill keeps what it has; the job is still recorded as answered.
      const closed = row.status === "completed" || row.status === "cancelled";
      if (!closed) decisions = await apply(tx);
      const now = this.deps.clock.now();
      await tx.query(
        "UPDATE image_jobs SET state = $2::image_job_state, completed_at = $3::timestamptz, error = $4, result = COALESCE($5::jsonb, result), updated_at = $3::timestamptz WHERE id = $1::uuid",
        [
          callback.jobId,
          callback.status,
          now,
          callback.status === "failed" ? callback.error : null,
          callback.status === "completed" ? JSON.stringify(callback.result) : null,
        ],
      );
      if (!closed) await appendEvents(tx, billId, [{ type: "ai.result", data: { kind, jobId: callback.jobId, state: callback.status } }], now);
      return { jobId: callback.jobId, state: callback.status, applied: !closed };
    });
    for (const decision of decisions) await this.deps.ledger.afterCommit(billId, decision);
    return answer;
  }

  /**
   * Jobs still pending or processing after the timeout (the AI never answered, or we died before
   * handing them over) are handed over again, or marked failed after the last attempt, so no bill
   * stays "processing" forever. Runs at start-up and then periodically.
   */
  async recoverStaleJobs(): Promise<{ resubmitted: number; failed: number }> {
    // One sweep at a time in this process; other processes are kept out by the conditional claims.
    if (this.sweeping) return { resubmitted: 0, failed: 0 };
    this.sweeping = true;
    try {
      const cutoff = new Date(this.deps.clock.now().getTime() - this.deps.options.jobTimeoutMs);
      const staleness: Prisma.ImageJobWhereInput = {
        OR: [{ lastAttemptAt: null, createdAt: { lt: cutoff } }, { lastAttemptAt: { lt: cutoff } }],
      };
      const stale = await this.deps.db.imageJob.findMany({
        where: { state: { in: ["pending", "processing"] }, ...staleness },
        orderBy: { createdAt: "asc" },
        take: 100,
      });
      let resubmitted = 0;
      let failed = 0;
      for (const job of stale) {
        if (job.attempts >= this.deps.options.maxAttempts) {
          const { count } = await this.deps.db.imageJob.updateMany({
            where: { id: job.id, state: { in: ["pending", "processing"] }, attempts: job.attempts, ...staleness },
            data: {
              state: "failed",
              completedAt: this.deps.clock.now(),
              error: `The AI service did not answer after ${job.attempts} attempt(s); upload the image again`,
            },
          });
          failed += count;
        } else if (await this.dispatch(job.id, { attempts: job.attempts, ...staleness })) {
          resubmitted += 1;
        }
      }
      if (resubmitted || failed) this.deps.logger.info({ resubmitted, failed }, "recovered stale image jobs");
      return { resubmitted, failed };
    } finally {
      this.sweeping = false;
    }
  }
}

function presentJob(kind: ImageKind, job: ImageJobRow | undefined) {
  const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
  return {
    jobId: job?.id ?? null,
    kind,
    state: job?.state ?? ("none" as const),
    aiJobId: job?.aiJobId ?? null,
    attempts: job?.attempts ?? 0,
    uploadedAt: iso(job?.createdAt),
    lastAttemptAt: iso(job?.lastAttemptAt),
    completedAt: iso(job?.completedAt),
    error: job?.error ?? null,
  };
}
