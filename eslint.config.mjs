// ESLint (flat config): the recommended JavaScript and typescript-eslint rules, with every rule
// that Prettier's formatting decides turned off (eslint-config-prettier). `npm run lint` runs this
// and `prettier --check`; CI runs `npm run lint`.
import js from "@eslint/js";
import prettier from "eslint-config-prettier";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "src/generated/**", "coverage/**", ".data/**", "uploads/**", "docs/**"] },
  js.configs.recommended,
  tseslint.configs.recommended,
  prettier,
  {
    languageOptions: { globals: globals.node },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      // A leading underscore says "deliberately unused": a discarded field of a rest pattern, an
      // Express error handler's fourth argument.
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_", caughtErrors: "none", ignoreRestSiblings: true },
      ],
    },
  },
  {
    // Tests, benchmarks and scripts read the API's JSON answers as `any` on purpose: they check them.
    files: ["tests/**", "bench/**", "scripts/**"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    // The two build helpers are CommonJS scripts that Node runs as they are.
    files: ["**/*.js"],
    languageOptions: { sourceType: "commonjs" },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
