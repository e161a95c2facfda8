// Tests for report_data.ts: a report whose parts disagree is refused before any page is drawn.

import assert from "node:assert/strict";
import { renderReport } from "./report.ts";
import { tinyReport } from "./report_testing.ts";

Deno.test("inconsistent data is refused, naming the part", () => {
  const r = tinyReport();
  r.embeddings.wte.pop();
  assert.throws(() => renderReport(r), /wte has 3 rows/);
  const s = tinyReport();
  s.attention[0].weights.pop();
  assert.throws(() => renderReport(s), /not 2 layers × 2/);
});
