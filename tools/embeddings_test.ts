// Tests for embeddings.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { DEFAULTS, Random } from "../microgpt.ts";
import { embeddingReport, principalComponents, scatterGrid } from "./embeddings.ts";
import { assertClose, smallTrained } from "./testing.ts";

const cfg = { ...DEFAULTS };

Deno.test("principal components are orthonormal and find the direction of greatest spread", () => {
  const r = new Random(8);
  const rows = Array.from({ length: 40 }, () => {
    const t = r.gauss(0, 5); // stretched along (1, 2, 0, 0, …)
    return Array.from(
      { length: 10 },
      (_, i) => (i === 0 ? t : i === 1 ? 2 * t : 0) + r.gauss(0, 0.01),
    );
  });
  const { components, coords } = principalComponents(rows, 2);
  const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
  assertClose(dot(components[0], components[0]), 1, 1e-12);
  assertClose(dot(components[1], components[1]), 1, 1e-12);
  assert(Math.abs(dot(components[0], components[1])) < 1e-12);
  assertClose(components[0][0], 1 / Math.sqrt(5), 1e-3);
  assertClose(components[0][1], 2 / Math.sqrt(5), 1e-3);
  assert.equal(coords.length, 40);
  // All rows alike: no spread, but still two perpendicular unit vectors and no NaN.
  const flat = principalComponents(Array.from({ length: 5 }, () => [1, 2, 3]), 2);
  assert(flat.components.flat().every(Number.isFinite));
  assert(Math.abs(dot(flat.components[0], flat.components[1])) < 1e-12);
});

Deno.test("the embedding picture fits 72 × 24 and shows every token once", () => {
  const { model, tok } = smallTrained(200);
  const text = embeddingReport(tok, Float64Array.from(model.params, (p) => p.data), cfg.nEmbd);
  const grid = text.split("\n").filter((l) => l.startsWith("|"));
  assert(grid.length <= 24 && grid.every((l) => [...l].length <= 74));
  const cells = grid.map((l) => l.slice(1, -1)).join("");
  for (const label of [...tok.chars, "^"]) assert.equal(cells.split(label).length - 1, 1, label);
  assert.match(text, /^nearest to a: . -?\d\.\d\d, . -?\d\.\d\d, . -?\d\.\d\d$/m);
  // Many points on one cell: each still gets a cell of its own.
  const crowd = scatterGrid(["a", "b", "c", "d"], [[0, 0], [0, 0], [0, 0], [1, 1]], 10, 4);
  for (const ch of "abcd") assert.equal(crowd.split(ch).length - 1, 1);
});
