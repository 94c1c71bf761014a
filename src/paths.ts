// Where the project's files are, whether we run from src/ (tsx, ts-jest) or from dist/ (compiled).
import { existsSync } from "node:fs";
import path from "node:path";

function findProjectRoot(start: string): string {
  let dir = start;
  while (!existsSync(path.join(dir, "package.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

export const PROJECT_ROOT = findProjectRoot(__dirname);
export const PRISMA_DIR = path.join(PROJECT_ROOT, "prisma");
