// The web app's linter (run by `make lint` through `infra/web lint`): ESLint's and typescript-eslint's
// recommended rules, React's rules of hooks (the dependencies of effects and callbacks, which is how
// stale data and reload loops slip in), on the app and its browser scripts.
import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["src/generated/**", "node_modules/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["src/**/*.{ts,tsx}"],
    plugins: { "react-hooks": reactHooks },
    rules: {
      "react-hooks/rules-of-hooks": "error",
      "react-hooks/exhaustive-deps": "error",
    },
    languageOptions: { globals: globals.browser },
  },
  {
    // The browser scripts run in Node and hand functions to the page (page.evaluate): both sets of names.
    files: ["e2e/**/*.mjs", "*.js", "*.ts"],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
);
