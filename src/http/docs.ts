// The OpenAPI 3 document, generated from the zod schemas the routes validate with, and the
// interactive page (Swagger UI). Internal callbacks are documented in their own document.
import { OpenApiGeneratorV3, type OpenAPIRegistry } from "@asteasolutions/zod-to-openapi";
import { Router } from "express";
import swaggerUi from "swagger-ui-express";
import { allowOnly } from "./api-router";

export type OpenApiDocument = ReturnType<OpenApiGeneratorV3["generateDocument"]>;

export function buildOpenApiDocument(registry: OpenAPIRegistry, audience: "public" | "internal", serverUrl: string): OpenApiDocument {
  const isInternal = (tags: string[] | undefined) => (tags ?? []).some((t) => t.startsWith("internal: "));
  const routes = registry.definitions.filter((d) => d.type === "route" && isInternal(d.route.tags) === (audience === "internal"));
  // Each document declares the security schemes its own operations use (bearer, or the HMAC headers).
  const schemesUsed = new Set(routes.flatMap((d) => (d.type === "route" ? (d.route.security ?? []).flatMap((s) => Object.keys(s)) : [])));
  const definitions = registry.definitions.filter((d) => {
    if (d.type === "route") return routes.includes(d);
    if (d.type === "component" && d.componentType === "securitySchemes") return schemesUsed.has(d.name);
    return true;
  });
  return new OpenApiGeneratorV3(definitions).generateDocument({
    openapi: "3.0.3",
    info: {
      title: audience === "public" ? "ChillBill API" : "ChillBill internal callbacks",
      version: "0.1.0",
      description:
        audience === "public"
          ? "Bill splitting for banking apps. Authenticate with `Authorization: Bearer <JWT>` issued by the banking app."
          : "Endpoints called by the AI service and the payment system. Authenticated by HMAC signatures, not user tokens.",
    },
    servers: [{ url: serverUrl }],
  });
}

/** The documents /docs offers in its selector, the public one first (the one it opens). */
export const DOCS_DOCUMENTS = [
  { url: "/openapi.json", name: "ChillBill API" },
  { url: "/openapi.internal.json", name: "ChillBill internal callbacks (AI service, payment system)" },
];

export function docsRouter(publicDoc: OpenApiDocument, internalDoc: OpenApiDocument): Router {
  const router = Router();
  router.get("/openapi.json", (_req, res) => {
    res.json(publicDoc);
  });
  router.get("/openapi.internal.json", (_req, res) => {
    res.json(internalDoc);
  });
  router.all(["/openapi.json", "/openapi.internal.json"], allowOnly("get"));
  // swagger-ui-express answers any method with the page; only GET (and HEAD) read it.
  router.use("/docs", allowOnly("get"));
  // The page loads the documents by URL rather than embedding one, so its selector can switch
  // between them; swaggerUrl is the one it opens (without it the page first asks for "[object Object]").
  const page = {
    customSiteTitle: "ChillBill API",
    explorer: true,
    swaggerUrl: DOCS_DOCUMENTS[0].url,
    swaggerOptions: { urls: DOCS_DOCUMENTS, "urls.primaryName": DOCS_DOCUMENTS[0].name },
  };
  router.use("/docs", swaggerUi.serveFiles(undefined, page), swaggerUi.setup(undefined, page));
  return router;
}
