import path from "node:path";

export const TMP_DIR = path.resolve(__dirname, "../.tmp");
export const TEMPLATE_PATH = path.join(TMP_DIR, "pglite-template.tar.gz");
