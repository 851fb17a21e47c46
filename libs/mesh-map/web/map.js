// The mesh map page: reads the registry's feed (/map/feed, server-sent events read with fetch so
// that a bearer token can go in a header), each message the whole current view (see
// libs/mesh-map/src/view.ts for its fields), and draws it. No framework, no build step, nothing
// from another origin.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = 'wgmesh-map-token';
  /** A feed sends at least every 15 s; silence this long means it is gone. */
  const SILENCE_MS = 40000;
  const PATH_WORDS = { direct: 'direct', relayed: 'relayed', trying: 'trying direct' };
  const TECHNIQUE_WORDS = { plain: 'plain', punch: 'punched', prediction: 'predicted port' };
  /** Line height of the member labels in the drawing (viewBox units). */
  const LINE = 21;

  let view = null;
  /** Server clock minus ours: "ago" is counted on the server's clock. */
  let skew = 0;
  let scheduled = false;
  let token = takeToken();

  // ---- the feed ---------------------------------------------------------------------------

  function takeToken() {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
      history.replaceState(null, '', location.pathname + location.search); // out of the address bar and history
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  async function follow() {
    const abort = new AbortController();
    let watchdog = setTimeout(() => abort.abort(), SILENCE_MS);
    try {
      setStatus('connecting…', 'down');
      const res = await fetch('/map/feed', { headers: token ? { Authorization: `Bearer ${token}` } : {}, cache: 'no-store', signal: abort.signal });
      if (res.status === 401) return askToken();
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        clearTimeout(watchdog);
        watchdog = setTimeout(() => abort.abort(), SILENCE_MS);
        buffer += value;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          onFrame(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (err) {
      // reconnect below
    } finally {
      clearTimeout(watchdog);
    }
    setStatus('reconnecting…', 'down');
    setTimeout(follow, 2000);
  }

  function onFrame(frame) {
    let event = 'message';
    const data = [];
    for (const line of frame.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (event !== 'view' || data.length === 0) return;
    view = JSON.parse(data.join('\n'));
    skew = view.now - Date.now();
    schedule();
  }

  function askToken() {
    setStatus('needs its token', 'down');
    const form = $('token-form');
    form.hidden = false;
    form.onsubmit = (e) => {
      e.preventDefault();
      token = $('token').value.trim();
      sessionStorage.setItem(TOKEN_KEY, token);
      form.hidden = true;
      follow();
    };
  }

  // ---- rendering ----------------------------------------------------------------------------

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      render();
    });
  }

  function render() {
    if (!view) return;
    const names = new Map(view.members.map((m) => [m.key, m.name]));
    const filter = { relayedOnly: $('relayed-only').checked, text: $('search').value.trim().toLowerCase() };
    $('mesh').textContent = `mesh ${view.mesh}`;
    renderSummary();
    renderDrawing(names, filter);
    renderPairs(names, filter);
    renderMembers(filter);
    renderEvents();
    tick();
  }

  function renderSummary() {
    const c = view.pairCounts;
    const online = view.members.filter((m) => m.online).length;
    $('summary').textContent =
      `${num(view.members.length)} member${view.members.length === 1 ? '' : 's'} (${num(online)} online) · ${num(c.total)} pair${c.total === 1 ? '' : 's'}: ` +
      `${num(c.direct)} direct, ${num(c.relayed)} relayed, ${num(c.trying)} trying direct${c.undecided ? `, ${num(c.undecided)} not decided yet` : ''}`;
    if (view.status.ready && view.status.detail === 'live') setStatus('live', 'up');
    else setStatus(view.status.detail, view.status.ready ? 'stale' : 'down');
  }

  function setStatus(text, state) {
    const el = $('status');
    el.textContent = text;
    el.className = `status status-${state}`;
  }

  function shows(pair, names, filter) {
    if (filter.relayedOnly && pair.path === 'direct') return false;
    if (!filter.text) return true;
    return names.get(pair.a).toLowerCase().includes(filter.text) || names.get(pair.b).toLowerCase().includes(filter.text);
  }

  function renderPairs(names, filter) {
    const c = view.pairCounts;
    const decided = c.direct + c.relayed + c.trying;
    const rows = view.pairs.filter((p) => shows(p, names, filter));
    $('pairs-note').textContent = view.pairsSampled
      ? `${num(view.pairs.length)} of ${num(decided)} shown: relayed and trying first, then the latest changes`
      : filter.relayedOnly || filter.text
        ? `${num(rows.length)} of ${num(decided)}`
        : '';
    const html = rows.map((p) => {
      const by = p.reportedBy === p.a ? names.get(p.a) : names.get(p.b);
      return (
        `<tr class="row-${p.path}" data-pair="${esc(names.get(p.a))}-${esc(names.get(p.b))}">` +
        `<td class="pair-names">${esc(names.get(p.a))} – ${esc(names.get(p.b))}</td>` +
        `<td><span class="badge path-${p.path}">${PATH_WORDS[p.path]}</span></td>` +
        `<td>${p.technique ? TECHNIQUE_WORDS[p.technique] : '—'}</td>` +
        `<td title="not measured by wgmesh yet">${p.rttMs === null ? '—' : `${p.rttMs} ms`}</td>` +
        `<td class="reason">${esc(p.reason)} <span class="muted">(decided by ${esc(by)})</span></td>` +
        `<td class="nowrap" data-ago="${p.since}"></td></tr>`
      );
    });
    const empty = view.pairs.length === 0 ? 'no pair has a path decision yet' : 'no pair matches the filter';
    $('pairs').tBodies[0].innerHTML = html.length ? html.join('') : `<tr><td colspan="6" class="muted">${empty}</td></tr>`;
  }

  function renderMembers(filter) {
    const r = view.registry;
    const registryRow =
      `<tr class="registry"><td>registry</td><td>${esc(r.address)}</td><td>${esc(r.endpoint || '—')}</td><td>—</td>` +
      `<td class="nowrap" title="the hub device ${esc(r.device)}">${esc(r.driver)}</td><td><span class="badge hub">hub</span></td><td>—</td></tr>`;
    const rows = view.members
      .filter((m) => !filter.text || m.name.toLowerCase().includes(filter.text))
      .map(
        (m) =>
          `<tr data-member="${esc(m.name)}"><td>${esc(m.name)}</td><td>${esc(m.address || '—')}</td><td>${esc(m.endpoint || '—')}</td>` +
          `<td${m.natDetail ? ` title="${esc(m.natDetail)}"` : ''}>${esc(m.nat || '—')}${m.portStep ? ' <span class="muted">sequential</span>' : ''}</td><td>${esc(m.driver || '—')}</td>` +
          `<td class="nowrap"><span class="badge ${m.online ? 'online' : 'offline'}">${m.online ? 'online' : 'offline'}</span> ` +
          `<span class="muted" ${m.hubHandshake ? `data-ago="${m.hubHandshake * 1000}"` : ''}>${m.hubHandshake ? '' : 'no handshake yet'}</span></td>` +
          `<td>${pathCounts(m.paths)}</td></tr>`,
      );
    $('members').tBodies[0].innerHTML = registryRow + rows.join('');
  }

  /** "3 direct · 1 relayed", the kinds it has. */
  function pathCounts(c) {
    const parts = [['direct', c.direct], ['relayed', c.relayed], ['trying', c.trying]].filter(([, k]) => k > 0);
    return parts.length ? parts.map(([kind, k]) => `<span class="count-${kind}">${k} ${kind}</span>`).join(' · ') : '—';
  }

  function renderEvents() {
    $('events').innerHTML = view.events.length
      ? view.events
          .map((e) => `<li class="event-${e.kind}"><time>${clock(e.at)}</time> ${esc(e.text)}${e.detail ? `<div class="muted">${esc(e.detail)}</div>` : ''}</li>`)
          .join('')
      : '<li class="muted">nothing has happened since the map started</li>';
  }

  // ---- the drawing --------------------------------------------------------------------------

  function renderDrawing(names, filter) {
    const svg = $('drawing');
    const [w, h] = [760, 560];
    const center = { x: w / 2, y: h / 2 };
    const n = view.members.length;
    const radius = view.draw ? 175 : 230;
    const at = new Map(
      view.members.map((m, i) => {
        const angle = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(n, 1);
        return [m.key, { x: center.x + radius * Math.cos(angle), y: center.y + radius * Math.sin(angle), angle, member: m }];
      }),
    );
    const parts = [];
    for (const p of at.values()) parts.push(`<line class="spoke${p.member.online ? '' : ' offline'}" x1="${f(center.x)}" y1="${f(center.y)}" x2="${f(p.x)}" y2="${f(p.y)}"/>`);
    if (view.draw) {
      for (const pair of view.pairs) {
        if (!shows(pair, names, filter)) continue;
        const a = at.get(pair.a);
        const b = at.get(pair.b);
        const title = `<title>${esc(names.get(pair.a))} – ${esc(names.get(pair.b))}: ${PATH_WORDS[pair.path]}. ${esc(pair.reason)}</title>`;
        const d = pair.path === 'relayed' ? `M${f(a.x)},${f(a.y)} Q${f(center.x)},${f(center.y)} ${f(b.x)},${f(b.y)}` : `M${f(a.x)},${f(a.y)} L${f(b.x)},${f(b.y)}`;
        parts.push(`<path class="pair path-${pair.path}" data-pair="${esc(names.get(pair.a))}-${esc(names.get(pair.b))}" d="${d}">${title}</path>`);
      }
    }
    parts.push(
      `<g class="hub"><rect x="${f(center.x - 70)}" y="${f(center.y - 30)}" width="140" height="60" rx="10"/>` +
        `<text x="${f(center.x)}" y="${f(center.y - 5)}" class="name">registry</text><text x="${f(center.x)}" y="${f(center.y + 17)}" class="sub">${esc(view.registry.address)}</text></g>`,
    );
    for (const p of at.values()) {
      const m = p.member;
      if (!view.draw) {
        parts.push(`<circle class="dot${m.online ? '' : ' offline'}" cx="${f(p.x)}" cy="${f(p.y)}" r="3"><title>${esc(m.name)}</title></circle>`);
        continue;
      }
      // Labels outward, three short lines: beside the node on the sides, above or below it at the top and bottom.
      const side = Math.cos(p.angle) > 0.3 ? 1 : Math.cos(p.angle) < -0.3 ? -1 : 0;
      const anchor = side > 0 ? 'start' : side < 0 ? 'end' : 'middle';
      const lines = [m.name, m.address || '', [m.nat && m.portStep ? `${m.nat} (seq.)` : m.nat, m.driver].filter(Boolean).join(' · ')];
      const lx = p.x + side * 22;
      const top = side !== 0 ? p.y - LINE + 6 : Math.sin(p.angle) < 0 ? p.y - 22 - 2 * LINE : p.y + 38;
      const text = lines.map((t, k) => `<text x="${f(lx)}" y="${f(top + k * LINE)}" text-anchor="${anchor}" class="${k === 0 ? 'name' : 'sub'}">${esc(t)}</text>`).join('');
      parts.push(
        `<g class="member${m.online ? '' : ' offline'}" data-member="${esc(m.name)}"><title>${esc(m.name)}: ${esc(m.address || '')}, NAT ${esc(m.nat || 'unknown')}${m.natDetail ? ` (${esc(m.natDetail)})` : ''}, ${esc(m.driver || 'dataplane unknown')}, ${m.online ? 'online' : 'offline'}</title>` +
          `<circle cx="${f(p.x)}" cy="${f(p.y)}" r="13"/>${text}</g>`,
      );
    }
    svg.innerHTML = parts.join('');
    $('drawing-note').textContent = view.draw
      ? ''
      : `${num(n)} members: ${num(view.pairCounts.total)} pairs are too many to draw; the members are dots (grey: offline) and the tables list the pairs.`;
  }

  // ---- time and text ----------------------------------------------------------------------

  function tick() {
    const now = Date.now() + skew;
    for (const el of document.querySelectorAll('[data-ago]')) el.textContent = ago(now - Number(el.dataset.ago));
  }

  function ago(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }

  function clock(ms) {
    return new Date(ms).toTimeString().slice(0, 8);
  }

  function num(n) {
    return n.toLocaleString('en-US');
  }

  function f(x) {
    return x.toFixed(1);
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  }

  // ---- start ------------------------------------------------------------------------------

  // A #token=… pasted into this tab later: start again with it.
  window.addEventListener('hashchange', () => /(?:^#|&)token=/.test(location.hash) && location.reload());
  $('relayed-only').addEventListener('change', schedule);
  $('search').addEventListener('input', schedule);
  $('drawing').addEventListener('click', (e) => {
    const g = e.target.closest('[data-member]');
    if (!g) return;
    $('search').value = $('search').value === g.dataset.member ? '' : g.dataset.member;
    schedule();
  });
  setInterval(tick, 1000);
  follow();
})();
