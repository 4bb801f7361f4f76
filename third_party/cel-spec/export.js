// Flattens the CEL conformance suite shipped in @bufbuild/cel-spec (pinned in package.json)
// into one JSON array for tether's C++ conformance runner (src/cel/conformance_test.cc).
// Usage: node export.js OUTPUT.json
"use strict";
const fs = require("fs");
const path = require("path");
const data = require(path.join(__dirname, "node_modules/@bufbuild/cel-spec/dist/cjs/testdata/conformance.js"));

const out = [];
function walk(suite, file, section) {
  for (const sub of suite.suites || []) {
    walk(sub, file === null ? sub.name : file, file === null ? null : sub.name);
  }
  for (const t of suite.tests || []) {
    out.push({ file, section: section || "", ...t.original, name: t.original.name || t.original.expr });
  }
}
walk(data.tests, null, null);
fs.writeFileSync(process.argv[2], JSON.stringify(out));
console.log(`exported ${out.length} conformance tests to ${process.argv[2]}`);
