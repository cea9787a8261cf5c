// Times as the duty officer reads them: UTC and the browser's local time side by side, and
// countdowns. Pure.

const pad = (n) => String(n).padStart(2, "0");

export function utc(t, seconds = true) {
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return "—";
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}${seconds ? `:${pad(d.getUTCSeconds())}` : ""}Z`;
}

export function local(t, seconds = true) {
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return "—";
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const zone = `UTC${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}${seconds ? `:${pad(d.getSeconds())}` : ""} ${zone}`;
}

export function both(t) {
  return `${utc(t)} (${local(t)} local)`;
}

export function countdown(msLeft) {
  const neg = msLeft < 0;
  let s = Math.round(Math.abs(msLeft) / 1000);
  const hh = Math.floor(s / 3600);
  s -= hh * 3600;
  const mm = Math.floor(s / 60);
  s -= mm * 60;
  const text = hh ? `${hh}:${pad(mm)}:${pad(s)}` : `${mm}:${pad(s)}`;
  return neg ? `overdue by ${text}` : `${text} left`;
}

export function iso(t) {
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z");
}
