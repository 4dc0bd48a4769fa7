import type { Table } from "./types.js";

function escapeCell(cell: string): string {
  return cell.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

export function renderTable(table: Table): string {
  const lines: string[] = [];
  if (table.title) lines.push(`**${table.title}**`, "");
  const align = table.columns.map((_, i) => table.align?.[i] ?? (i === 0 ? "l" : "r"));
  lines.push(`| ${table.columns.map(escapeCell).join(" | ")} |`);
  lines.push(`| ${align.map((a) => (a === "r" ? "---:" : ":---")).join(" | ")} |`);
  for (const row of table.rows) lines.push(`| ${row.map(escapeCell).join(" | ")} |`);
  return lines.join("\n");
}
