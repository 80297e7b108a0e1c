// Formatting shared by the scenarios' Markdown sections.

export const fmt = (value, digits = 0) => {
  if (value === Infinity) return '∞'; // e.g. CPU per message when nothing was delivered
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '–';
};

/** A Markdown table: `columns` = [{ title, align: 'l'|'r' }], `rows` = arrays of cells already formatted. */
export function table(columns, rows) {
  return [
    `| ${columns.map((c) => c.title).join(' | ')} |`,
    `|${columns.map((c) => (c.align === 'l' ? '---' : '---:')).join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

/** `{ target, value, limit, ok }` → one row of the targets table. */
export function check(scenario, target, measured, ok, note = '') {
  return { scenario, target, measured, ok, note };
}
