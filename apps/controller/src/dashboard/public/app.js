/* global document, window, sessionStorage, fetch, setTimeout, clearTimeout, setInterval, TextDecoderStream, AbortController, URLSearchParams, console */
// Cairn dashboard: plain browser JavaScript, no framework, no CDN.
//
// Data comes from the controller's /api/* routes with `Authorization: Bearer <token>` when a token was
// entered (kept in sessionStorage only, never in a URL). Live updates are Server-Sent Events read with
// fetch() and a ReadableStream, because the browser's built-in SSE client cannot send an Authorization
// header; a welcome side effect is that every refusal's HTTP status (401, 403, 429) can be read.
// Everything that comes from the cluster (file names above all) is written with textContent.
(function () {
  'use strict';

  const TOKEN_KEY = 'cairn.adminToken';
  /** A stream that says nothing for this long is considered dead and reopened. */
  const STALL_MS = 5000;
  /** With no overview for this long the figures on screen are marked stale (events come every second). */
  const STALE_AFTER_MS = 3000;
  /** Reconnection backoff for a stream that broke or could not be opened. */
  const MIN_BACKOFF_MS = 500;
  const MAX_BACKOFF_MS = 5000;
  /** Copy-rate window for the repair ETA. */
  const RATE_WINDOW_MS = 20000;
  /** A rate over less copying time than this swings wildly (hours, then minutes): no ETA from it. */
  const MIN_RATE_SPAN_MS = 5000;
  /** No copy finished for this long: the rate is no longer current, so neither rate nor ETA is shown. */
  const STALLED_MS = 5000;
  /** A 429 without a usable Retry-After is retried after this long (the controller's lockout is a minute). */
  const DEFAULT_RETRY_AFTER_S = 10;
  const MAX_RETRY_AFTER_S = 3600;
  const FILES_LIMIT = 200;
  /** The file list is reloaded when the totals change, and at least this often (a replace keeps them). */
  const FILES_REFRESH_MS = 10000;
  /** Relative times, the lockout countdown and staleness are brought up to date this often. */
  const TICK_MS = 1000;

  const $ = (id) => document.getElementById(id);

  // ---------- formatting (pure; exposed as window.cairnDashboard for the browser tests) ----------

  const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

  /** `n` bytes for people: whole bytes below 1 KiB (a rate is a float), three significant digits above. */
  function bytes(n) {
    if (!Number.isFinite(n)) return '–';
    let i = 0;
    while (Math.abs(n) >= 1024 && i < UNITS.length - 1) {
      n /= 1024;
      i++;
    }
    if (i === 0) {
      const whole = Math.round(n);
      // 1023.6 B would round to "1024 B": say it in the next unit instead.
      return Math.abs(whole) >= 1024 ? `1.00 ${UNITS[1]}` : `${whole} B`;
    }
    const digits = Math.abs(n) < 10 ? 2 : Math.abs(n) < 100 ? 1 : 0;
    const shown = n.toFixed(digits);
    if (Math.abs(Number(shown)) >= 1024 && i < UNITS.length - 1) return `1.00 ${UNITS[i + 1]}`;
    return `${shown} ${UNITS[i]}`;
  }
  const count = (n) => (Number.isFinite(n) ? n.toLocaleString('en-US') : '–');
  const plural = (n, noun) => `${count(n)} ${noun}${n === 1 ? '' : 's'}`;
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
  const clockTime = (ms) => new Date(ms).toLocaleTimeString('en-GB', { hour12: false });

  /** Control characters (C0, DEL and C1), and the backslash that starts an escape. */
  // eslint-disable-next-line no-control-regex -- matching them is the point
  const ESCAPED = /[\\\u0000-\u001f\u007f-\u009f]/g;
  const NAMED = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

  /**
   * `text` with its control characters written out (`\n`, `\x1b`) and backslashes doubled: the same
   * rule as `printable` in apps/client/src/format.ts (the CLI's human output), so a name looks the same
   * on the page as in `cairn ls`. Shown raw, a name with a newline looks like one with a space.
   */
  function printable(text) {
    return String(text).replace(ESCAPED, (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  }

  /**
   * Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP date (RFC 9110, 10.2.3), at
   * least one second; a missing or unreadable header gets DEFAULT_RETRY_AFTER_S.
   */
  function retryAfterSeconds(header, now) {
    const value = (header || '').trim();
    let seconds = NaN;
    if (/^\d+$/.test(value)) seconds = Number(value);
    else if (value) seconds = Math.ceil((Date.parse(value) - now) / 1000);
    if (!Number.isFinite(seconds)) seconds = DEFAULT_RETRY_AFTER_S;
    return Math.min(MAX_RETRY_AFTER_S, Math.max(1, seconds));
  }

  /**
   * The repair copy rate from samples of the healer's running total ({time, bytes}, oldest first, the
   * controller's clock), one of:
   * - {state: 'waiting'}: no copy finished in the samples yet, but not for long;
   * - {state: 'stalled', quietMs}: no copy finished for more than STALLED_MS; an older rate is stale;
   * - {state: 'measuring'}: copies finish, but over less than MIN_RATE_SPAN_MS: too noisy for an ETA;
   * - {state: 'copying', rate}: bytes per second over the copying part of the samples.
   * Idle samples before the first copy are left out of the rate: they would dilute it.
   */
  function copyRate(samples) {
    if (samples.length === 0) return { state: 'waiting' };
    const latest = samples[samples.length - 1];
    let settled = samples.length - 1; // the first sample already at the latest total
    while (settled > 0 && samples[settled - 1].bytes === latest.bytes) settled--;
    const quietMs = latest.time - samples[settled].time;
    if (quietMs > STALLED_MS) return { state: 'stalled', quietMs };
    if (settled === 0) return { state: 'waiting' };
    let start = 0; // the last sample before copies began
    while (start < settled - 1 && samples[start + 1].bytes === samples[start].bytes) start++;
    const spanMs = latest.time - samples[start].time;
    if (spanMs < MIN_RATE_SPAN_MS) return { state: 'measuring' };
    return { state: 'copying', rate: (latest.bytes - samples[start].bytes) / (spanMs / 1000) };
  }

  window.cairnDashboard = Object.freeze({ bytes, printable, retryAfterSeconds, copyRate, duration, ago });

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

  /**
   * An /api answer that is a refusal rather than data, as the page acts on it:
   * - {kind: 'sign-in', message}: 401, no token or not a valid one: the sign-in form again;
   * - {kind: 'forbidden', message}: 403, a valid token that is not the admin's: the form, and why;
   * - {kind: 'locked-out', seconds}: 429, this address failed too often: keep the token, retry later.
   */
  class Refused extends Error {
    constructor(refusal) {
      super(refusal.kind);
      this.refusal = refusal;
    }
  }

  /** The refusal an answer carries, or null when it is none of the above. */
  async function refusalOf(response) {
    if (response.status === 429) return { kind: 'locked-out', seconds: retryAfterSeconds(response.headers.get('Retry-After'), Date.now()) };
    if (response.status === 401) return { kind: 'sign-in', message: await errorMessage(response) };
    if (response.status === 403) return { kind: 'forbidden', message: await errorMessage(response) };
    return null;
  }

  /** The `error.message` of a JSON error body, or '' (an answer from a proxy may be anything). */
  async function errorMessage(response) {
    try {
      const body = await response.json();
      return body && body.error && typeof body.error.message === 'string' ? body.error.message : '';
    } catch {
      return '';
    }
  }

  function headers() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  async function api(path, signal) {
    const response = await fetch(path, { headers: headers(), cache: 'no-store', signal });
    const refusal = await refusalOf(response);
    if (refusal) throw new Refused(refusal);
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

  /**
   * 401 or 403: the token (if any) is of no use here, so it is dropped and the form shown again; a
   * retry with it would only count as another failed attempt towards this address's lockout.
   */
  function signInNeeded(refusal) {
    const hadToken = Boolean(sessionStorage.getItem(TOKEN_KEY));
    sessionStorage.removeItem(TOKEN_KEY);
    stopStream();
    leaveLockout();
    clearPanels();
    showSession();
    setConn('locked', 'sign-in needed');
    if (refusal.kind === 'forbidden') {
      notice(refusal.message || 'This token may not see the dashboard. Sign in with the admin token.');
    } else if (hadToken) {
      notice(`The controller refused this token${refusal.message ? `: ${refusal.message.replace(/\.$/, '')}` : ''}. Sign in with the admin token.`);
    } else {
      notice('This dashboard needs the admin token: paste it above and sign in.');
    }
  }

  // ---------- lockout (429) ----------

  /** When the controller said this address may try again (browser clock, ms); 0 when not locked out. */
  let lockedOutUntil = 0;

  /** 429: the token stays and the page stays signed in; it says so and retries when told to. */
  function enterLockout(seconds) {
    lockedOutUntil = Date.now() + seconds * 1000;
    setConn('locked-out', 'locked out');
    showLockout();
  }

  function showLockout() {
    if (!lockedOutUntil) return;
    const left = Math.max(0, Math.ceil((lockedOutUntil - Date.now()) / 1000));
    notice(`This address is locked out after too many failed sign-ins; retrying in ${left} s`);
  }

  function leaveLockout() {
    if (!lockedOutUntil) return;
    lockedOutUntil = 0;
    notice('');
  }

  // ---------- live stream ----------

  let streamControl = null;

  /** The pill: connecting, live, reconnecting, locked-out (429) or locked (sign-in needed). */
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

  /** Resolves after `ms`, or at once when `signal` aborts. */
  function sleep(ms, signal) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Opens /api/events once and renders its events until it ends, stalls or fails. Returns the
   * refusal when the controller refused the stream, and whether any event arrived otherwise.
   */
  async function streamOnce(signal) {
    let stall = null;
    let received = false;
    const attempt = new AbortController();
    const abortAttempt = () => attempt.abort();
    signal.addEventListener('abort', abortAttempt, { once: true });
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
      const refusal = await refusalOf(response);
      if (refusal) return { refusal };
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      if (!lockedOutUntil) setConn('live', 'live');
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
          if (parsed && parsed.event === 'overview' && !signal.aborted) {
            received = true;
            render(JSON.parse(parsed.data));
          }
        }
      }
    } catch (err) {
      if (!signal.aborted && !(err instanceof Error && err.name === 'AbortError')) console.warn('event stream:', err);
    } finally {
      clearTimeout(stall);
      signal.removeEventListener('abort', abortAttempt);
    }
    return { received };
  }

  async function readStream(control) {
    let backoff = MIN_BACKOFF_MS;
    while (!control.signal.aborted) {
      const outcome = await streamOnce(control.signal);
      if (control.signal.aborted) return;
      if (outcome.refusal && outcome.refusal.kind === 'locked-out') {
        enterLockout(outcome.refusal.seconds);
        await sleep(outcome.refusal.seconds * 1000, control.signal);
        continue;
      }
      if (outcome.refusal) {
        signInNeeded(outcome.refusal);
        return; // wait for a sign-in, which starts a new stream
      }
      if (outcome.received) backoff = MIN_BACKOFF_MS;
      // A lockout that has run out and was followed by no answer at all: the controller is away now.
      if (lockedOutUntil && Date.now() >= lockedOutUntil) leaveLockout();
      if (!lockedOutUntil) setConn('reconnecting', 'reconnecting…');
      await sleep(backoff, control.signal);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  function stopStream() {
    if (streamControl) streamControl.abort();
    streamControl = null;
  }

  function startStream() {
    stopStream();
    streamControl = new AbortController();
    setConn('connecting', 'connecting…');
    void readStream(streamControl);
  }

  // ---------- freshness ----------

  /** The last overview shown, and when it arrived (browser clock). */
  let last = null;
  let receivedAt = 0;

  /**
   * The controller's clock now, as best the page knows: the last overview's time plus what has passed
   * here since it came. Ages are computed against it, so they keep growing while no data comes, and a
   * browser whose clock is off does not make every heartbeat look old (or in the future).
   */
  function serverNow() {
    return last ? last.time + (Date.now() - receivedAt) : Date.now();
  }

  /**
   * Greys every data panel and says since when, once no overview came for STALE_AFTER_MS: the figures
   * (a node "alive", "fully replicated") are then only what was true at that time.
   */
  function updateStaleness() {
    const stale = last !== null && Date.now() - receivedAt > STALE_AFTER_MS;
    for (const panel of document.querySelectorAll('[data-panel]')) panel.classList.toggle('stale', stale);
    const banner = $('stale');
    banner.hidden = !stale;
    if (!stale) return;
    const since = clockTime(receivedAt);
    banner.textContent = lockedOutUntil
      ? `No data since ${since}; figures as of then.`
      : `controller unreachable since ${since}; figures as of then`;
  }

  /** Every second: ages on screen move on, the lockout countdown too, and staleness is checked. */
  function tick() {
    showLockout();
    updateStaleness();
    refreshAges();
  }

  function refreshAges() {
    if (!last) return;
    const now = serverNow();
    for (const cell of $('nodes').querySelectorAll('td.seen')) cell.textContent = ago(now - Number(cell.dataset.at));
    for (const cell of $('files').querySelectorAll('td.updated')) cell.textContent = ago(now - Number(cell.dataset.at));
  }

  // ---------- rendering the overview ----------

  /** Samples of the healer's running totals, for the copy rate. */
  let samples = [];
  /** Chunks already copied when the current degradation began (for the progress bar). */
  let repairBase = null;

  function render(overview) {
    const { status, nodes, time } = overview;
    last = overview;
    receivedAt = Date.now();
    // Data flows again: whatever went wrong before (lockout, reconnecting, stale) is over.
    leaveLockout();
    notice('');
    setConn('live', 'live');
    updateStaleness();
    setText('clock', `updated ${clockTime(time)}`);
    renderTotals(status, nodes);
    renderHealth(status, time);
    renderNodes(nodes, status);
    const changed = !shownTotals || shownTotals.files !== status.files || shownTotals.bytes !== status.bytes;
    shownTotals = { files: status.files, bytes: status.bytes };
    const due = changed || filesRetryAt > 0 || Date.now() - filesLoadedAt > FILES_REFRESH_MS;
    if (due && Date.now() >= filesRetryAt) void loadFiles();
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

  /** Adds a sample of the copied-bytes total, keeping RATE_WINDOW_MS of them; a restarted controller starts over. */
  function addSample(time, copiedBytes) {
    const previous = samples[samples.length - 1];
    if (previous && (copiedBytes < previous.bytes || time < previous.time)) samples = [];
    samples.push({ time, bytes: copiedBytes });
    while (samples.length > 2 && time - samples[0].time > RATE_WINDOW_MS) samples.shift();
  }

  function renderHealth(status, time) {
    const { underReplicated, lost, repair, gc } = status;
    // Optional: a controller from before it existed does not send it.
    const waitingForRoom = Number(repair.waitingForRoom) > 0 ? Number(repair.waitingForRoom) : 0;
    setText('h-under', count(underReplicated));
    setText('h-lost', count(lost));
    $('h-under').classList.toggle('alert', underReplicated > 0);
    $('h-lost').classList.toggle('alert', lost > 0);
    setText('h-queue', count(repair.queued));
    setText('h-running', count(repair.running));
    setText('h-repaired', `${count(repair.copiedChunks)} · ${bytes(repair.copiedBytes)}`);
    setText('h-gc', `${count(gc.pendingChunks)} / ${count(gc.deletedChunks)}`);
    addSample(time, repair.copiedBytes);

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
    badge.textContent = lost > 0 ? `${count(lost)} lost` : waitingForRoom > 0 ? 'waiting for room' : 'repairing';
    // Remaining work: the chunks below their factor (the healer's queue is a per-pass slice of them).
    const remaining = Math.max(underReplicated - lost, repair.queued + repair.running);
    const done = repair.copiedChunks - repairBase;
    bar.style.width = `${pct(done, done + remaining)}%`;
    bar.parentElement.dataset.level = lost > 0 ? 'bad' : 'warn';
    const chunkBytes = repair.copiedChunks > 0 ? repair.copiedBytes / repair.copiedChunks : status.chunks > 0 ? status.bytes / status.chunks : 0;
    const parts = [`${count(done)} copied, ${count(remaining)} to go`];
    if (waitingForRoom > 0) {
      // A rate and ETA would promise an end that will not come until a node has room.
      parts.push(`waiting for room: ${plural(waitingForRoom, 'chunk')} cannot be placed (no node has room for another copy)`);
    } else {
      parts.push(...rateAndEta(copyRate(samples), remaining * chunkBytes));
    }
    if (lost > 0) parts.push(`${count(lost)} chunks have no live replica: bring their nodes back`);
    setText('h-progress', parts.join(' · '));
  }

  /** The rate and ETA parts of the repair line, for what copyRate says. */
  function rateAndEta(measured, remainingBytes) {
    switch (measured.state) {
      case 'copying':
        return [`${bytes(measured.rate)}/s`, `ETA ${measured.rate > 0 ? duration(remainingBytes / measured.rate) : '–'}`];
      case 'measuring':
        return ['measuring the copy rate', 'ETA –'];
      case 'stalled':
        return [`no copy finished in the last ${duration(measured.quietMs / 1000)}`, 'ETA –'];
      default:
        return ['waiting for copies', 'ETA –'];
    }
  }

  function renderNodes(nodes, status) {
    const body = $('nodes').tBodies[0];
    const rows = new Map([...body.rows].map((row) => [row.dataset.nodeId, row]));
    $('nodes-empty').hidden = nodes.length > 0;
    const drained = drainComplete(status);
    nodes.forEach((node, index) => {
      let row = rows.get(node.id);
      if (!row) row = nodeRow(node.id);
      rows.delete(node.id);
      if (body.rows[index] !== row) body.insertBefore(row, body.rows[index] || null);
      updateNodeRow(row, node, drained);
    });
    for (const row of rows.values()) row.remove();
  }

  /**
   * Whether a draining node may be stopped now: nothing is under-replicated (its copies no longer
   * count, so every chunk it held has its factor elsewhere) and the healer has nothing queued or
   * running. README: drain it, wait for status to show nothing under-replicated, stop it, forget it.
   */
  function drainComplete(status) {
    return status.underReplicated === 0 && status.repair.queued === 0 && status.repair.running === 0;
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

  function updateNodeRow(row, node, drained) {
    row.dataset.state = node.state;
    row.querySelector('.address').textContent = node.address;
    row.querySelector('.zone').textContent = node.zone || '—';
    const state = row.querySelector('.state');
    state.dataset.state = node.state;
    const done = node.state === 'draining' && drained;
    state.dataset.drain = done ? 'done' : '';
    state.textContent = done ? 'draining — done, safe to stop' : node.state;
    const share = pct(node.used, node.capacity);
    const bar = row.querySelector('.capacity .bar');
    bar.dataset.level = share > 90 ? 'bad' : share > 75 ? 'warn' : '';
    bar.firstChild.style.width = `${share}%`;
    row.querySelector('.capacity .sub').textContent = `${bytes(node.used)} of ${bytes(node.capacity)} (${share.toFixed(1)}%)`;
    row.querySelector('.chunks').textContent = count(node.chunks);
    const seen = row.querySelector('.seen');
    seen.dataset.at = String(node.lastSeen);
    seen.textContent = ago(serverNow() - node.lastSeen);
  }

  // ---------- files ----------

  let filesRequest = null;
  let filesLoadedAt = 0;
  /** After a 429 on the file list, not before this (browser clock, ms). */
  let filesRetryAt = 0;
  /** The totals the file list was last loaded for: a change reloads it. */
  let shownTotals = null;

  async function loadFiles() {
    if (filesRequest) filesRequest.abort();
    const control = (filesRequest = new AbortController());
    filesLoadedAt = Date.now();
    const prefix = $('search').value;
    try {
      const query = new URLSearchParams({ prefix, limit: String(FILES_LIMIT) });
      const page = await api(`/api/files?${query}`, control.signal);
      if (control.signal.aborted) return;
      filesRetryAt = 0;
      renderFiles(page.files, prefix, Boolean(page.next));
    } catch (err) {
      if (control.signal.aborted) return;
      if (!(err instanceof Refused)) setText('files-note', `Could not list files (${err.message}).`);
      else if (err.refusal.kind !== 'locked-out') signInNeeded(err.refusal);
      else {
        // The stream, if open, keeps the rest of the page up to date: only the list waits.
        filesRetryAt = Date.now() + err.refusal.seconds * 1000;
        setText('files-note', `Could not list files: this address is locked out after too many failed sign-ins; trying again after ${err.refusal.seconds} s.`);
      }
    }
  }

  function renderFiles(files, prefix, more) {
    const body = $('files').tBodies[0];
    const recent = [...files].sort((a, b) => b.updatedAt - a.updatedAt);
    const now = serverNow();
    const rows = recent.map((file) => {
      const row = document.createElement('tr');
      row.dataset.name = file.name;
      const name = el('td', 'name mono', printable(file.name)); // user data: text only, never markup
      name.title = `sha256 ${file.sha256}`;
      const updated = el('td', 'num updated', ago(now - file.updatedAt));
      updated.dataset.at = String(file.updatedAt);
      updated.title = new Date(file.updatedAt).toISOString();
      row.append(name, el('td', 'num', bytes(file.size)), el('td', 'num', file.replicas), el('td', 'num', count(file.chunkCount)), updated);
      return row;
    });
    body.replaceChildren(...rows);
    setText('files-note', filesNote(files.length, prefix, more));
  }

  /** What the list is: all the matching files, or (past FILES_LIMIT) only the first names in name order. */
  function filesNote(shown, prefix, more) {
    if (shown === 0) return prefix ? 'No file name starts with this prefix.' : 'No files yet.';
    if (more) {
      return `The first ${count(shown)} names in name order${prefix ? ' with this prefix' : ''}, shown newest first; there are more: type a longer prefix to see others.`;
    }
    return `All ${plural(shown, 'file')}${prefix ? ' with this prefix' : ''}, newest first.`;
  }

  // ---------- clearing ----------

  /** Empties every data panel (sign-out, a refused token): nothing of the cluster stays on screen. */
  function clearPanels() {
    if (filesRequest) filesRequest.abort();
    last = null;
    receivedAt = 0;
    samples = [];
    repairBase = null;
    shownTotals = null;
    filesRetryAt = 0;
    for (const id of ['t-nodes', 't-files', 't-chunks', 't-capacity', 'h-under', 'h-lost', 'h-queue', 'h-running', 'h-repaired', 'h-gc', 'h-progress']) {
      setText(id, '–');
    }
    for (const id of ['clock', 't-nodes-sub', 't-bytes', 't-capacity-sub', 'files-note']) setText(id, '');
    for (const id of ['h-under', 'h-lost']) $(id).classList.remove('alert');
    for (const id of ['t-capacity-bar', 'h-progress-bar']) {
      $(id).style.width = '0';
      $(id).parentElement.dataset.level = '';
    }
    const badge = $('h-badge');
    badge.dataset.level = 'unknown';
    badge.textContent = '–';
    $('nodes').tBodies[0].replaceChildren();
    $('nodes-empty').hidden = true;
    $('files').tBodies[0].replaceChildren();
    updateStaleness();
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
      clearPanels();
      startStream(); // the first overview loads the file list
    });
    $('logout').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      stopStream();
      leaveLockout();
      clearPanels();
      showSession();
      // A controller that needs no token still shows its data; one that does asks for it (401).
      startStream();
    });
    let debounce = null;
    $('search').addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => void loadFiles(), 200);
    });
    setInterval(tick, TICK_MS);
    startStream();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
