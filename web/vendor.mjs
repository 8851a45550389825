// Copies the third-party browser files from node_modules into web/vendor/ (committed)
// and axe-core into tests/e2e/vendor/ (for the browser tests).
// Run: cd web && npm ci && npm run vendor
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const nm = join(here, "node_modules");

const files = [
  // [source under node_modules, destination under web/, optional transform]
  ["preact/dist/preact.module.js", "vendor/preact.module.js"],
  ["preact/hooks/dist/hooks.module.js", "vendor/preact-hooks.module.js",
    (s) => s.replace(/from\s*["']preact["']/g, 'from"./preact.module.js"')],
  ["htm/dist/htm.module.js", "vendor/htm.module.js"],
  ["leaflet/dist/leaflet.js", "vendor/leaflet.js"],
  ["leaflet/dist/leaflet.css", "vendor/leaflet.css"],
  ["axe-core/axe.min.js", "../tests/e2e/vendor/axe.min.js"],
];

const stripSourceMap = (s) => s.replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, "\n");

for (const [src, dest, transform] of files) {
  let text = readFileSync(join(nm, src), "utf8");
  if (transform) text = transform(text);
  if (dest.endsWith(".js")) text = stripSourceMap(text);
  const out = join(here, dest);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, text);
  console.log(`${src} -> web/${dest} (${text.length} bytes)`);
}

// Sanity check: the hooks module must no longer import the bare "preact" specifier.
const hooks = readFileSync(join(here, "vendor/preact-hooks.module.js"), "utf8");
if (/from\s*["']preact["']/.test(hooks)) throw new Error("preact-hooks still imports 'preact'");
