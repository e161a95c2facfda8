/**
 * `--explain`: before each character of the first sample, the five likeliest candidates at the
 * sampling temperature and at temperature 1, marking the one drawn. Watching draws nothing from
 * the random stream, so the samples stay what microgpt.py would draw.
 *
 * @module
 */

import { type Draw, Tokenizer } from "../microgpt.ts";
import { charLabel } from "./stream.ts";

/** The line above an explained sample. */
export function explainHeader(temperature: number): string {
  return `--- explain sample 1: the 5 likeliest next characters, probability at temperature ` +
    `${temperature} / at 1, * = drawn ---\n`;
}

/** One explained draw: the five likeliest candidates (and the drawn one, if not among them). */
export function explainLine(draw: Draw, tok: Tokenizer): string {
  const order = draw.probs.map((_, i) => i);
  order.sort((a, b) => draw.probs[b] - draw.probs[a] || draw.probs1[b] - draw.probs1[a] || a - b);
  const shown = order.slice(0, 5);
  if (!shown.includes(draw.drawn)) shown.push(draw.drawn);
  const cells = shown.map((id) => {
    const name = id === tok.bos ? "<end>" : charLabel(tok.chars[id]);
    const mark = id === draw.drawn ? "*" : " ";
    return `${mark}${name} ${draw.probs[id].toFixed(3)}/${draw.probs1[id].toFixed(3)}`;
  });
  return `  after ${JSON.stringify(draw.soFar).padEnd(14)} ${cells.join("  ")}\n`;
}
