// The release's topology as inline SVG: who may connect, the proxy, the PostgreSQL
// members with replication from the elected leader, and the etcd cluster Patroni uses.
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
// A member count as drawn: the schema's default when not a usable number, and never
// past the schema's maximum (the platform's limit, defined once in core).
function count(schema, path, v) {
  const s = schema.at(path) ?? {};
  return Number.isInteger(v) && v >= 1 ? Math.min(v, s.maximum ?? v) : schema.defaultAt(path, s);
}

const BOX_W = 150, BOX_H = 48, GAP = 20;

function box(x, y, lines, cls) {
  // Squeeze a long name (long release names) into the box rather than overflow it.
  const fit = (l, i) => (l.length * (i ? 6 : 7.5) > BOX_W - 12 ? ` textLength="${BOX_W - 12}" lengthAdjust="spacingAndGlyphs"` : "");
  const text = lines.map((l, i) => `<text x="${x + BOX_W / 2}" y="${y + 20 + i * 16}" class="${i ? "sub" : "name"}"${fit(l, i)}>${esc(l)}</text>`).join("");
  return `<g class="node ${cls}"><rect x="${x}" y="${y}" width="${BOX_W}" height="${BOX_H}" rx="6"/>${text}</g>`;
}
const arrow = (d, cls = "") => `<path d="${d}" class="edge ${cls}" marker-end="url(#topo-arrow)"/>`;
const label = (x, y, text, anchor = "middle") => `<text x="${x}" y="${y}" class="label" text-anchor="${anchor}">${esc(text)}</text>`;

/** Who may connect, as lines of text. */
function accessLines(access, gvc) {
  const listed = Array.isArray(access?.workloads) ? access.workloads.map(String) : [];
  const more = (list) => (list.length > 5 ? [...list.slice(0, 4), `and ${list.length - 4} more`] : list);
  switch (access?.type) {
    case "same-org": return ["any workload in the org"];
    case "workload-list": return listed.length ? more(listed) : ["no workload listed (required)"];
    default: return [`any workload in GVC ${gvc}`, ...more(listed)];
  }
}

/** The SVG markup for `values` (already merged with the defaults). */
export function topologySvg(values, name, gvc, schema) {
  const pg = count(schema, ["replicas"], values.replicas);
  const etcd = count(schema, ["etcd", "replicas"], values.etcd?.replicas);
  const proxy = values.proxy?.enabled !== false;
  const proxyReplicas = count(schema, ["proxy", "replicas"], values.proxy?.replicas);
  const sync = values.patroni?.synchronous_mode !== false;
  const accessType = values.internal_access?.type ?? "same-gvc";
  const access = accessLines(values.internal_access, gvc);

  const rowWidth = (n) => n * BOX_W + (n - 1) * GAP;
  const width = Math.max(rowWidth(Math.max(pg, etcd)) + 80, 560);
  const mid = width / 2;
  const rowX = (n, i) => mid - rowWidth(n) / 2 + i * (BOX_W + GAP);
  const parts = [];

  // Clients.
  const clientsH = 30 + access.length * 16;
  const clientsW = Math.min(width - 40, 360);
  parts.push(`<g class="node clients"><rect x="${mid - clientsW / 2}" y="10" width="${clientsW}" height="${clientsH}" rx="6"/>`
    + `<text x="${mid}" y="30" class="name">${esc(`May connect (${accessType})`)}</text>`
    + access.map((l, i) => `<text x="${mid}" y="${48 + i * 16}" class="sub">${esc(l)}</text>`).join("") + "</g>");
  let y = 10 + clientsH;

  // Proxy, or straight to the members.
  const pgY = y + (proxy ? 40 + BOX_H + 50 : 60);
  const leaderX = rowX(pg, 0) + BOX_W / 2;
  if (proxy) {
    parts.push(arrow(`M${mid},${y} L${mid},${y + 36}`));
    parts.push(box(mid - BOX_W / 2, y + 40, [`${name}-proxy`, `${proxyReplicas}× HAProxy → leader`], "proxy"));
    parts.push(arrow(`M${mid},${y + 40 + BOX_H} C${mid},${pgY - 20} ${leaderX},${y + 60 + BOX_H} ${leaderX},${pgY - 4}`));
  } else {
    for (let i = 0; i < pg; i++) parts.push(arrow(`M${mid},${y} L${rowX(pg, i) + BOX_W / 2},${pgY - 4}`, "thin"));
  }

  // PostgreSQL members, replication arcs below them.
  const replArc = (i) => 28 + 14 * i;
  const pgFrameH = BOX_H + 40 + (pg > 1 ? replArc(pg - 2) * 0.75 + 18 : 0);
  parts.push(`<rect x="20" y="${pgY - 26}" width="${width - 40}" height="${pgFrameH}" rx="10" class="frame"/>`);
  // Frame titles sit top right: the arrow into the leader comes down on the left.
  parts.push(label(width - 30, pgY - 10, "PostgreSQL · Patroni", "end"));
  const pgBottom = pgY + BOX_H;
  for (let i = 0; i < pg; i++) {
    parts.push(box(rowX(pg, i), pgY, [`${name}-postgres-${i}`, i ? "replica" : "leader (elected)"], i ? "replica" : "leader"));
    if (i) {
      const x = rowX(pg, i) + BOX_W / 2, d = replArc(i - 1);
      parts.push(arrow(`M${leaderX},${pgBottom} C${leaderX},${pgBottom + d} ${x},${pgBottom + d} ${x},${pgBottom + 4}`, "replication"));
    }
  }
  if (pg > 1) parts.push(label(mid, pgY + pgFrameH - 34, `streaming replication from the leader (${sync ? "synchronous" : "asynchronous"})`));

  // etcd, with Patroni talking to it both ways.
  const frameBottom = pgY - 26 + pgFrameH;
  const etcdY = frameBottom + 70;
  parts.push(`<path d="M${mid},${frameBottom + 4} L${mid},${etcdY - 30}" class="edge patroni" marker-start="url(#topo-arrow)" marker-end="url(#topo-arrow)"/>`);
  parts.push(label(mid + 10, frameBottom + 30, "Patroni ⇄ etcd: leader lease", "start"));
  parts.push(`<rect x="20" y="${etcdY - 26}" width="${width - 40}" height="${BOX_H + 40}" rx="10" class="frame"/>`);
  parts.push(label(width - 30, etcdY - 10, `etcd · quorum ${Math.floor(etcd / 2) + 1} of ${etcd}`, "end"));
  for (let i = 0; i < etcd; i++) parts.push(box(rowX(etcd, i), etcdY, [`${name}-etcd-${i}`, "etcd member"], "etcd"));
  const height = etcdY + BOX_H + 24;

  const replicas = pg - 1;
  const desc = [
    `Who may connect: ${accessType}: ${access.join("; ")}.`,
    proxy ? `Clients reach the leader through ${name}-proxy (${proxyReplicas} replicas).` : "No proxy: clients connect to the members and ask for a read-write session.",
    `${pg} PostgreSQL member${pg === 1 ? "" : "s"}: ${name}-postgres-0 is the elected leader` + (replicas ? `, streaming ${sync ? "synchronously" : "asynchronously"} to ${replicas} replica${replicas === 1 ? "" : "s"}.` : "; no replica, so no failover."),
    `Patroni on each member keeps its leader lease in ${etcd} etcd member${etcd === 1 ? "" : "s"}.`,
  ].join(" ");

  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="topo-title topo-desc">`
    + `<title id="topo-title">Topology of release ${esc(name)}</title><desc id="topo-desc">${esc(desc)}</desc>`
    + `<defs><marker id="topo-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>`
    + parts.join("") + "</svg>";
}
