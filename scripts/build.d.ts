// Types for scripts/build.js (plain CommonJS, so that it runs before anything is compiled).
export function buildInputs(root: string): string[];
export function hashInputs(root: string): Record<string, string>;
export function whyRebuild(root: string, inputs?: Record<string, string>): string | null;
export function build(root: string, inputs?: Record<string, string>): void;
export function outputOf(sourceFile: string): string | null;
