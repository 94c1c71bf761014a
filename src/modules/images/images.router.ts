// Image uploads, processing status, and the AI service's callbacks (internal, signed).
import type { NextFunction, Request, RequestHandler, Response } from "express";
import multer, { MulterError } from "multer";
import type { ImageKind } from "../../adapters/ai/ai-service";
import { AI_SIGNATURE_HEADER } from "../../adapters/ai/ai-service";
import type { FileStore } from "../../adapters/storage/file-store";
import { BadRequest, ValidationFailed } from "../../domain/errors";
import type { ApiRouter } from "../../http/api-router";
import type { AuthUser } from "../../http/auth";
import { problems } from "../../http/common-schemas";
import { zodIssues } from "../../http/problem";
import { billIdParams } from "../bills";
import type { ImagesService } from "./images.service";
import { billResultBody, callbackAnswer, groupResultBody, imageJobSchema, processingStatusSchema, uploadBody } from "./images.schemas";

export interface ImageRouteOptions {
  files: FileStore;
  maxUploadBytes: number;
  verifyAiSignature: RequestHandler;
}

export function registerImageRoutes(api: ApiRouter, images: ImagesService, options: ImageRouteOptions): void {
  // Streams to disk under a generated name: a 10 MB photo is never held in memory.
  const upload = multer({
    storage: multer.diskStorage({
      destination: options.files.dir,
      filename: (_req, _file, cb) => cb(null, options.files.newName()),
    }),
    limits: { fileSize: options.maxUploadBytes, files: 1, fields: 5, parts: 6 },
  }).single("image");

  // busboy reports a malformed multipart body (no boundary, cut short, broken part headers) with
  // plain Errors: the client's fault, so 400. Storage errors carry an errno code and stay 500.
  const readUpload: RequestHandler = (req, res, next) => {
    upload(req, res, (err?: unknown) => {
      if (err instanceof Error && !(err instanceof MulterError) && !(err as NodeJS.ErrnoException).code) {
        next(new BadRequest(`The multipart body could not be read: ${err.message}`, "invalid_upload"));
        return;
      }
      next(err);
    });
  };

  // The form's other fields are checked once the file is on disk, so a refused request removes it.
  const checkFormFields: RequestHandler = async (req: Request, _res: Response, next: NextFunction) => {
    // The file is one of the form's fields to the client: checked with them, so the document requires it.
    const fields = uploadBody.safeParse({ ...(req.body ?? {}), image: req.file });
    if (!fields.success) {
      if (req.file) await options.files.remove(req.file.filename);
      throw new ValidationFailed(zodIssues(fields.error));
    }
    req.body = fields.data;
    next();
  };

  // Ownership and bill state are checked before the body is read, so a refused upload stores nothing.
  const checkBill: RequestHandler = async (req: Request, _res: Response, next: NextFunction) => {
    const params = billIdParams.safeParse(req.params);
    if (!params.success) throw new ValidationFailed(zodIssues(params.error, "params"));
    await images.assertCanUpload(req.user as AuthUser, params.data.billId);
    next();
  };

  for (const kind of ["bill", "group"] as ImageKind[]) {
    api.route({
      method: "post",
      path: `/bills/:billId/${kind}-image`,
      tag: "images",
      summary: kind === "bill" ? "Upload the photo of the receipt" : "Upload the photo of the group",
      description: `multipart/form-data with one file in the field "image" (JPEG, PNG, WebP or HEIC; at most ${options.maxUploadBytes} bytes). The type is read from the file's content. Uploading again replaces the image and starts a new AI job.`,
      params: billIdParams,
      before: [checkBill, readUpload, checkFormFields],
      bodyContentType: "multipart/form-data",
      body: uploadBody,
      responses: {
        202: { description: "Stored and handed to the AI service", schema: imageJobSchema },
        ...problems(400, 401, 404, 409, 413, 415),
      },
      handler: async ({ user, params, body }, _req, res) => {
        const job = await images.acceptUpload(user, params.billId, kind, { fileName: body.image.filename, size: body.image.size });
        res.status(202).location("processing-status").json(job);
      },
    });
  }

  api
    .route({
      method: "get",
      path: "/bills/:billId/processing-status",
      tag: "images",
      summary: "Where the AI processing of each image stands",
      params: billIdParams,
      responses: { 200: { description: "Per image: state, timestamps, AI job id, error", schema: processingStatusSchema }, ...problems(400, 401, 404) },
      handler: async ({ user, params }, _req, res) => {
        res.json(await images.processingStatus(user, params.billId));
      },
    })
    .route({
      method: "post",
      path: "/internal/bills/:billId/bill-result",
      tag: "AI callbacks",
      audience: "internal",
      auth: "aiSignature",
      summary: "The AI service's receipt result",
      description: `Signed: header ${AI_SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.rawBody" with the shared secret>; 300 s tolerance. Idempotent.`,
      params: billIdParams,
      before: [options.verifyAiSignature],
      body: billResultBody,
      bodyContentType: "application/json",
      responses: { 200: { description: "Applied, or already applied", schema: callbackAnswer }, ...problems(400, 401, 404, 409) },
      handler: async ({ params, body }, _req, res) => {
        res.json(await images.applyBillResult(params.billId, body));
      },
    })
    .route({
      method: "post",
      path: "/internal/bills/:billId/group-result",
      tag: "AI callbacks",
      audience: "internal",
      auth: "aiSignature",
      summary: "The AI service's group-photo result (recognised people)",
      description: `Signed like bill-result (header ${AI_SIGNATURE_HEADER}). Idempotent: the same people are never added twice.`,
      params: billIdParams,
      before: [options.verifyAiSignature],
      body: groupResultBody,
      bodyContentType: "application/json",
      responses: { 200: { description: "Applied, or already applied", schema: callbackAnswer }, ...problems(400, 401, 404, 409) },
      handler: async ({ params, body }, _req, res) => {
        res.json(await images.applyGroupResult(params.billId, body));
      },
    });
}
