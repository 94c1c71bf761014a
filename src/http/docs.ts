// The OpenAPI 3 document, generated from the zod schemas the routes validate with, and the
// interactive page (Swagger UI). Internal callbacks are documented in their own document.
import { OpenApiGeneratorV3, type OpenAPIRegistry } from "@asteasolutions/zod-to-openapi";
import { Router } from "express";
import swaggerUi from "swagger-ui-express";

export type OpenApiDocument = ReturnType<OpenApiGeneratorV3["generateDocument"]>;

export function buildOpenApiDocument(registry: OpenAPIRegistry, audience: "public" | "internal", serverUrl: string): OpenApiDocument {
  const definitions = registry.definitions.filter((d) => {
    if (d.type !== "route") return true;
    const internal = (d.route.tags ?? []).some((t) => t.startsWith("internal: "));
    return audience === "internal" ? internal : !internal;
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

export function docsRouter(publicDoc: OpenApiDocument, internalDoc: OpenApiDocument): Router {
  const router = Router();
  router.get("/openapi.json", (_req, res) => {
    res.json(publicDoc);
  });
  router.get("/openapi.internal.json", (_req, res) => {
    res.json(internalDoc);
  });
  router.use("/docs", swaggerUi.serveFiles(publicDoc), swaggerUi.setup(publicDoc, { customSiteTitle: "ChillBill API" }));
  return router;
}
