/* global document, sessionStorage, fetch, setTimeout, clearTimeout, TextDecoderStream, AbortController, URLSearchParams, console */
// Cairn dashboard: plain browser JavaScript, no framework, no CDN.
//
// Data comes from the controller's /api/* routes with `Authorization: Bearer <token>` when a token was
// entered (kept in sessionStorage only, never in a URL). Live updates are Server-Sent Events read with
// fetch() and a ReadableStream, because EventSource cannot send an Authorization header.
// Everything that comes from the cluster (file names above all) is written with textContent.
(function () {
  'use strict';

  const TOKEN_KEY = 'cairn.adminToken';
  /** A stream that says nothing for this long is considered dead and reopened. */
  const STALL_MS = 5000;
  /** Copy-rate window for the repair ETA. */
  const RATE_WINDOW_MS = 20000;
  const FILES_LIMIT = 200;
  /** The file list is reloaded when the totals change, and at least this often (a replace keeps them). */
  const FILES_REFRESH_MS = 10000;

  const $ = (id) => document.getElementById(id);

  // ---------- formatting ----------

  const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  function bytes(n) {
    if (!Number.isFinite(n)) return '–';
    let i = 0;
    while (n >= 1024 && i < UNITS.length - 1) {
      n /= 1024;
      i++;
    }
    return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)} ${UNITS[i]}`;
  }
  const count = (n) => (Number.isFinite(n) ? n.toLocaleString('en-US') : '–');
  function duration(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) return '–';
    seconds = Math.round(seconds);
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m ${String(s).padStart(2, '0')}s` : `${s}s`;
  }
  function ago(ms) {
    if (!Number.isFinite(ms)) return '–';
    if (ms < 1000) return 'just now';
    if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)} s ago`;
    if (ms < 3600000) return `${Math.floor(ms / 60000)} min ago`;
    if (ms < 86400000) return `${Math.floor(ms / 3600000)} h ago`;
    return `${Math.floor(ms / 86400000)} d ago`;
  }
  const pct = (part, whole) => (whole > 0 ? Math.min(100, Math.max(0, (100 * part) / whole)) : 0);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  function setText(id, text) {
    $(id).textContent = String(text);
  }

  // ---------- the token and the API ----------

  class AuthError extends Error {}

  function headers() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  async function api(path, signal) {
    const response = await fetch(path, { headers: headers(), cache: 'no-store', signal });
    if (response.status === 401 || response.status === 403) throw new AuthError(`${response.status}`);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  function showSession() {
    const signedIn = Boolean(sessionStorage.getItem(TOKEN_KEY));
    $('login').hidden = signedIn;
    $('session').hidden = !signedIn;
  }

  function notice(text) {
    const box = $('notice');
    box.hidden = !text;
    box.textContent = text || '';
  }

  function locked() {
    setConn('locked', 'sign-in needed');
    notice(
      sessionStorage.getItem(TOKEN_KEY)
        ? 'The controller refused this token. Sign in with the admin token.'
        : 'This dashboard needs the admin token: paste it above and sign in.',
    );
    if (sessionStorage.getItem(TOKEN_KEY)) {
      // A refused token is of no further use: show the form again.
      $('login').hidden = false;
      $('session').hidden = true;
    }
  }

  // ---------- live stream ----------

  let streamControl = null;

  function setConn(state, text) {
    const conn = $('conn');
    conn.dataset.state = state;
    conn.textContent = text;
  }

  /** Parses one SSE event block; returns {event, data} or null for comments and `retry`. */
  function parseEvent(block) {
    let name = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') name = value;
      else if (field === 'data') data.push(value);
    }
    return data.length ? { event: name, data: data.join('\n') } : null;
  }

  async function readStream(control) {
    let backoff = 500;
    while (!control.signal.aborted) {
      let stall = null;
      const attempt = new AbortController();
      const abortAttempt = () => attempt.abort();
      control.signal.addEventListener('abort', abortAttempt, { once: true });
      const arm = () => {
        clearTimeout(stall);
        stall = setTimeout(abortAttempt, STALL_MS);
      };
      try {
        arm();
        const response = await fetch('/api/events', {
          headers: { ...headers(), Accept: 'text/event-stream' },
          cache: 'no-store',
          signal: attempt.signal,
        });
        if (response.status === 401 || response.status === 403) {
          clearTimeout(stall);
          locked();
          return; // wait for a sign-in, which starts a new stream
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        notice('');
        setConn('live', 'live');
        backoff = 500;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          arm();
          buffer += value.replace(/\r\n?/g, '\n');
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const parsed = parseEvent(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (parsed && parsed.event === 'overview') render(JSON.parse(parsed.data));
          }
        }
      } catch (err) {
        if (control.signal.aborted) return;
        if (!(err instanceof Error && err.name === 'AbortError')) console.warn('event stream:', err);
      } finally {
        clearTimeout(stall);
        control.signal.removeEventListener('abort', abortAttempt);
      }
      if (control.signal.aborted) return;
      setConn('reconnecting', 'reconnecting…');
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(backoff * 2, 5000);
    }
  }

  function startStream() {
    if (streamControl) streamControl.abort();
    streamControl = new AbortController();
    setConn('connecting', 'connecting…');
    void readStream(streamControl);
  }

  // ---------- rendering the overview ----------

  let last = null;
  /** Samples of the healer's running totals, for the copy rate. */
  const samples = [];
  /** Chunks already copied when the current degradation began (for the progress bar). */
  let repairBase = null;

  function render(overview) {
    const { status, nodes, time } = overview;
    setText('clock', `updated ${new Date(time).toLocaleTimeString()}`);
    renderTotals(status, nodes);
    renderHealth(status, time);
    renderNodes(nodes, time);
    const changed = !last || last.status.files !== status.files || last.status.bytes !== status.bytes;
    if (changed || Date.now() - filesLoadedAt > FILES_REFRESH_MS) void loadFiles();
    last = overview;
  }

  function renderTotals(status, nodes) {
    const { alive, suspect, dead, draining } = status.nodes;
    setText('t-nodes', `${alive} / ${nodes.length}`);
    const parts = [`${alive} alive`];
    if (suspect) parts.push(`${suspect} suspect`);
    if (dead) parts.push(`${dead} dead`);
    if (draining) parts.push(`${draining} draining`);
    setText('t-nodes-sub', parts.join(' · '));
    setText('t-files', count(status.files));
    setText('t-bytes', `${bytes(status.bytes)} stored (before replication)`);
    setText('t-chunks', count(status.chunks));
    const serving = nodes.filter((n) => n.state !== 'dead');
    const capacity = serving.reduce((sum, n) => sum + n.capacity, 0);
    const used = serving.reduce((sum, n) => sum + n.used, 0);
    const share = pct(used, capacity);
    setText('t-capacity', capacity > 0 ? `${share.toFixed(share < 10 ? 1 : 0)}%` : '–');
    $('t-capacity-bar').style.width = `${share}%`;
    $('t-capacity-bar').parentElement.dataset.level = share > 90 ? 'bad' : share > 75 ? 'warn' : '';
    setText('t-capacity-sub', `${bytes(used)} used of ${bytes(capacity)} on live nodes`);
  }

  function renderHealth(status, time) {
    const { underReplicated, lost, repair, gc } = status;
    setText('h-under', count(underReplicated));
    setText('h-lost', count(lost));
    $('h-under').classList.toggle('alert', underReplicated > 0);
    $('h-lost').classList.toggle('alert', lost > 0);
    setText('h-queue', count(repair.queued));
    setText('h-running', count(repair.running));
    setText('h-repaired', `${count(repair.copiedChunks)} · ${bytes(repair.copiedBytes)}`);
    setText('h-gc', `${count(gc.pendingChunks)} / ${count(gc.deletedChunks)}`);

    samples.push({ time, bytes: repair.copiedBytes, chunks: repair.copiedChunks });
    while (samples.length > 2 && time - samples[0].time > RATE_WINDOW_MS) samples.shift();
    const first = samples[0];
    const seconds = (time - first.time) / 1000;
    const rate = seconds > 0 ? (repair.copiedBytes - first.bytes) / seconds : 0;

    const badge = $('h-badge');
    const bar = $('h-progress-bar');
    if (underReplicated === 0) {
      repairBase = null;
      badge.dataset.level = 'ok';
      badge.textContent = 'fully replicated';
      bar.style.width = '100%';
      bar.parentElement.dataset.level = 'ok';
      setText('h-progress', `Every chunk has its full replication factor on live nodes.`);
      return;
    }
    if (repairBase === null) repairBase = repair.copiedChunks;
    badge.dataset.level = lost > 0 ? 'lost' : 'repairing';
    badge.textContent = lost > 0 ? `${count(lost)} lost` : 'repairing';
    // Remaining work: the chunks below their factor (the healer's queue is a per-pass slice of them).
    const remaining = Math.max(underReplicated - lost, repair.queued + repair.running);
    const done = repair.copiedChunks - repairBase;
    const progress = pct(done, done + remaining);
    bar.style.width = `${progress}%`;
    bar.parentElement.dataset.level = lost > 0 ? 'bad' : 'warn';
    const chunkBytes = repair.copiedChunks > 0 ? repair.copiedBytes / repair.copiedChunks : status.chunks > 0 ? status.bytes / status.chunks : 0;
    const eta = rate > 0 ? (remaining * chunkBytes) / rate : NaN;
    const parts = [`${count(done)} copied, ${count(remaining)} to go`];
    parts.push(rate > 0 ? `${bytes(rate)}/s` : 'waiting for copies');
    parts.push(`ETA ${Number.isFinite(eta) ? duration(eta) : '–'}`);
    if (lost > 0) parts.push(`${count(lost)} chunks have no live replica: bring their nodes back`);
    setText('h-progress', parts.join(' · '));
  }

  function renderNodes(nodes, time) {
    const body = $('nodes').tBodies[0];
    const rows = new Map([...body.rows].map((row) => [row.dataset.nodeId, row]));
    $('nodes-empty').hidden = nodes.length > 0;
    nodes.forEach((node, index) => {
      let row = rows.get(node.id);
      if (!row) row = nodeRow(node.id);
      rows.delete(node.id);
      if (body.rows[index] !== row) body.insertBefore(row, body.rows[index] || null);
      updateNodeRow(row, node, time);
    });
    for (const row of rows.values()) row.remove();
  }

  function nodeRow(id) {
    const row = document.createElement('tr');
    row.dataset.nodeId = id;
    const idCell = el('td', 'mono node-id', id.length > 14 ? `${id.slice(0, 12)}…` : id);
    idCell.title = id;
    row.append(idCell, el('td', 'mono address'), el('td', 'zone'));
    const stateCell = el('td');
    stateCell.append(el('span', 'state'));
    const capacity = el('td', 'capacity');
    const bar = el('div', 'bar');
    bar.append(el('span'));
    capacity.append(bar, el('p', 'sub'));
    row.append(stateCell, capacity, el('td', 'num chunks'), el('td', 'num seen'));
    return row;
  }

  function updateNodeRow(row, node, time) {
    row.dataset.state = node.state;
    row.querySelector('.address').textContent = node.address;
    row.querySelector('.zone').textContent = node.zone || '—';
    const state = row.querySelector('.state');
    state.dataset.state = node.state;
    state.textContent = node.state;
    const share = pct(node.used, node.capacity);
    const bar = row.querySelector('.capacity .bar');
    bar.dataset.level = share > 90 ? 'bad' : share > 75 ? 'warn' : '';
    bar.firstChild.style.width = `${share}%`;
    row.querySelector('.capacity .sub').textContent = `${bytes(node.used)} of ${bytes(node.capacity)} (${share.toFixed(1)}%)`;
    row.querySelector('.chunks').textContent = count(node.chunks);
    row.querySelector('.seen').textContent = ago(time - node.lastSeen);
  }

  // ---------- files ----------

  let filesRequest = null;
  let filesLoadedAt = 0;

  async function loadFiles() {
    if (filesRequest) filesRequest.abort();
    const control = (filesRequest = new AbortController());
    filesLoadedAt = Date.now();
    const prefix = $('search').value;
    try {
      const query = new URLSearchParams({ prefix, limit: String(FILES_LIMIT) });
      const page = await api(`/api/files?${query}`, control.signal);
      if (control.signal.aborted) return;
      renderFiles(page.files, prefix, Boolean(page.next));
    } catch (err) {
      if (control.signal.aborted) return;
      if (err instanceof AuthError) locked();
      else setText('files-note', `Could not list files (${err.message}).`);
    }
  }

  function renderFiles(files, prefix, more) {
    const body = $('files').tBodies[0];
    const recent = [...files].sort((a, b) => b.updatedAt - a.updatedAt);
    const now = last ? last.time : Date.now();
    const rows = recent.map((file) => {
      const row = document.createElement('tr');
      row.dataset.name = file.name;
      const name = el('td', 'name mono', file.name); // user data: text only, never markup
      name.title = `sha256 ${file.sha256}`;
      const updated = el('td', 'num', ago(now - file.updatedAt));
      updated.title = new Date(file.updatedAt).toISOString();
      row.append(name, el('td', 'num', bytes(file.size)), el('td', 'num', file.replicas), el('td', 'num', count(file.chunkCount)), updated);
      return row;
    });
    body.replaceChildren(...rows);
    const plural = files.length === 1 ? '' : 's';
    let note;
    if (files.length === 0) note = prefix ? 'No file name starts with this prefix.' : 'No files yet.';
    else if (more) note = `Newest first among the first ${count(files.length)} names in name order; type a longer prefix to see others.`;
    else note = `${count(files.length)} file${plural}${prefix ? ' matching this prefix' : ''}, newest first.`;
    setText('files-note', note);
  }

  // ---------- wiring ----------

  function start() {
    showSession();
    $('login').addEventListener('submit', (event) => {
      event.preventDefault();
      const token = $('token').value.trim();
      $('token').value = '';
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      showSession();
      notice('');
      startStream();
      void loadFiles();
    });
    $('logout').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      showSession();
      startStream();
      void loadFiles();
    });
    let debounce = null;
    $('search').addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => void loadFiles(), 200);
    });
    startStream();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
