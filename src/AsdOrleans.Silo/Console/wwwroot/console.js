// AsdOrleans console: label queue, machines, alerts. Plain JavaScript, no build step. The API key lives in
// sessionStorage and travels only in the X-Api-Key header: audio and spectrograms are fetched and shown through
// blob: URLs, live events are read from /api/events with fetch (EventSource cannot send headers).
'use strict';
(() => {
  const KEY = 'asd.apiKey';
  const LABELLER = 'asd.labeller'; // the name is not a secret: kept across tabs (localStorage)
  const $ = (id) => document.getElementById(id);
  const state = {
    key: sessionStorage.getItem(KEY),
    labeller: localStorage.getItem(LABELLER) || null, // sent as X-Labeller with each answer
    typed: localStorage.getItem(LABELLER) || null,    // the name the person typed: a named key's name replaces it only while signed in
    machines: new Map(),     // id → status
    requests: [],            // pending label requests (queue order)
    current: 0,              // index into the visible queue of the selected card; -1: none (it left without the labeller)
    selected: null,          // the selected request itself: the index follows it as other cards come and go
    gap: 0,                  // where the selected card was when it left (↓ then selects the card in its place)
    alerts: [],
    chartMachine: null,
    chart: null,
    lastEventId: null,
    events: null,            // AbortController of the event stream
    blobs: new Map(),        // "machine/clip" → [blob URLs]
  };

  // ---- HTTP ------------------------------------------------------------------------------------------------
  class ApiError extends Error { constructor(status, detail) { super(detail || `HTTP ${status}`); this.status = status; } }

  async function api(path, options = {}) {
    // Work still running after sign-out (a held answer's follow-up, a timer) must neither call without a key nor sign
    // out again: a 401 signs out only the key that got it, while it is still the one signed in.
    const key = state.key;
    if (!key) throw new ApiError(0, 'signed out');
    const headers = Object.assign({ 'X-Api-Key': key }, options.headers || {});
    const response = await fetch(path, Object.assign({}, options, { headers }));
    if (response.status === 401) { if (state.key === key) signOut('the key was not accepted'); throw new ApiError(401); }
    if (!response.ok) {
      let detail = '';
      try { const problem = await response.json(); detail = problem.detail || problem.title || ''; } catch { /* not JSON */ }
      throw new ApiError(response.status, detail);
    }
    return response;
  }
  const json = async (path, options) => (await api(path, options)).json();
  const enc = encodeURIComponent;

  async function blobUrl(path, owner) {
    const url = URL.createObjectURL(await (await api(path)).blob());
    if (!state.blobs.has(owner)) state.blobs.set(owner, []);
    state.blobs.get(owner).push(url);
    return url;
  }
  function releaseBlobs(owner) { (state.blobs.get(owner) || []).forEach(URL.revokeObjectURL); state.blobs.delete(owner); }

  // ---- helpers -----------------------------------------------------------------------------------------------
  const machineType = (id) => { const last = id.slice(id.lastIndexOf('.') + 1); return last.replace(/[-_]?\d+$/, '') || last; };
  const fmt = (x, digits = 3) => (typeof x === 'number' && isFinite(x)) ? x.toFixed(digits) : '–';
  const time = (t) => new Date(t).toLocaleString();
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') node.className = v; else if (k === 'text') node.textContent = v;
      else if (k.startsWith('data-') || k.startsWith('aria-')) node.setAttribute(k, v); else node[k] = v;
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }
  let toastTimer;
  function toast(message) {
    const t = $('toast'); t.textContent = message; t.classList.add('show');
    clearTimeout(toastTimer); toastTimer = setTimeout(() => t.classList.remove('show'), 2500);
  }

  // ---- sign-in -----------------------------------------------------------------------------------------------
  async function signIn(key, labeller) {
    state.labeller = state.typed = labeller || null;
    if (labeller) localStorage.setItem(LABELLER, labeller); else localStorage.removeItem(LABELLER);
    // The label queue needs the labeller role (operators pass too): check the key with it.
    const response = await fetch('/api/label-requests?limit=1', { headers: { 'X-Api-Key': key } });
    if (response.status === 401 || response.status === 403)
      throw new Error(response.status === 403 ? 'this key has neither the labeller nor the operator role' : 'unknown key');
    // A typed name the silo refuses (a shared key with the name of someone who has a key of their own) would have every
    // answer refused 403: say so here. A person's own key answers in its own name whatever is typed, so it is not asked.
    if (labeller) {
      const who = await fetch('/api/whoami', { headers: { 'X-Api-Key': key } });
      const own = who.ok ? (await who.json()).labeller : null;
      if (who.ok && !own) {
        const named = await fetch('/api/whoami', { headers: { 'X-Api-Key': key, 'X-Labeller': labeller } });
        if (named.status === 403) {
          let detail = '';
          try { detail = (await named.json()).detail || ''; } catch { /* not JSON */ }
          throw new Error(`the name "${labeller}" is refused: ${detail || 'it is reserved'}`);
        }
      }
    }
    state.key = key;
    sessionStorage.setItem(KEY, key);
    await boot();
  }

  function signOut(reason) {
    if (state.key) { sendHeld(); release(); } // with the key they were given under
    sessionStorage.removeItem(KEY);
    state.key = null;
    clearTimeout(retryTimer);
    if (state.events) state.events.abort();
    for (const owner of [...state.blobs.keys()]) releaseBlobs(owner);
    // Nothing of this session stays for the next one: its queue, alerts and counts (the badges showed them).
    cards.clear(); state.requests = []; state.alerts = []; state.current = 0; state.selected = null; state.gap = 0;
    $('queue-list').replaceChildren(); $('alerts-list').replaceChildren();
    $('queue-count').textContent = $('alert-count').textContent = '0';
    $('load-error').hidden = true;
    machinesStatus('');
    alertMachine = null; $('alert-machine').value = ''; $('alert-machine-error').textContent = '';
    forgetMachines();
    $('nav').hidden = $('live').hidden = $('signout').hidden = $('who').hidden = true;
    $('signin-error').textContent = reason || '';
    // The name the person typed, not the one a named key supplied: the next key may be a shared one.
    state.labeller = state.typed;
    $('labeller').value = state.typed || '';
    show('signin');
  }

  // Loads the pages for the signed-in key. Only a refused key signs out (401, or 403: the wrong role); anything else
  // (no network, a 503 while the silo restarts) keeps the key, says what failed, and tries again until it loads.
  const RETRY_MS = 3000;
  let retryTimer;
  async function boot() {
    clearTimeout(retryTimer);
    const key = state.key;
    try {
      await start();
      if (state.key === key) $('load-error').hidden = true;
    } catch (e) {
      if (!state.key || state.key !== key) return; // signed out meanwhile
      if (e.status === 401 || e.status === 403) {
        signOut(e.status === 403 ? 'this key has neither the labeller nor the operator role' : 'the key was not accepted');
        return;
      }
      $('load-error').textContent = `could not load the console (${e.message}); trying again in ${RETRY_MS / 1000} s`;
      $('load-error').hidden = false;
      retryTimer = setTimeout(boot, RETRY_MS);
    }
  }

  async function start() {
    $('nav').hidden = $('live').hidden = $('signout').hidden = false;
    // A person's own key names who answers (the silo records that name whatever is typed): the console uses it.
    let own = null;
    try { own = (await json('/api/whoami')).labeller; } catch (e) {
      if (e.status !== 404) throw e; // a silo from before /api/whoami answers 404: the typed name; anything else is retried
    }
    if (own) state.labeller = own;
    $('who').textContent = state.labeller ? `answering as ${state.labeller}${own ? " (this key's name)" : ''}` : '';
    $('who').hidden = !state.labeller;
    if (!location.hash || location.hash === '#signin') location.hash = '#queue';
    route();
    await loadMachines(); // first: the queue shows each request against its machine's threshold
    await Promise.all([loadQueue(), loadAlerts()]);
    connectEvents();
  }

  // ---- pages -------------------------------------------------------------------------------------------------
  function show(page) {
    for (const section of document.querySelectorAll('.page')) section.hidden = section.id !== `page-${page}`;
    for (const link of document.querySelectorAll('nav a')) link.classList.toggle('active', link.dataset.page === page);
    document.body.dataset.page = page;
  }
  function route() {
    if (!state.key) { show('signin'); return; }
    const page = (location.hash || '#queue').slice(1);
    show(['queue', 'machines', 'alerts'].includes(page) ? page : 'queue');
    if (page === 'machines') { renderMachines(); drawChart(); refreshMachines(); }
  }

  // ---- machines ----------------------------------------------------------------------------------------------
  // A plant has thousands: GET /api/machines answers a page at a time (Link: rel="next"), and the table renders the
  // first MACHINE_ROWS of those that match the filter, so neither the load nor the page grows past what a browser keeps
  // up with.
  const MACHINES_PER_PAGE = 1000;
  const MACHINE_ROWS = 200;
  // The list is loaded again at most every 15 s per 1,000 machines (the silo asks every awake machine; sleeping ones
  // answer from the registry since stop 56 and are not woken).
  const REFRESH_MS = 15000;
  const machinesEvery = (size = state.machines.size) => REFRESH_MS * Math.max(1, size / 1000);
  const nextPage = (link) => /<([^>]+)>\s*;\s*rel="next"/.exec(link || '')?.[1] ?? null;
  const byId = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  let machinesLoading = null; // the load under way: a refresh or an event joins it rather than starting another
  let machinesLoadedAt = 0;
  let machinesSession = 0;    // one more at each sign-out: a load or fetch begun before it neither goes on nor lands
  let machinesComplete = false; // some load got every page: a later one that fails part-way keeps the rest as it was
  let machinesStale = false;  // more machines changed than are asked one by one: the next load that is due brings them
  let machinesBackoff = 0;    // after loads that failed part-way: the wait before the next try (3 s, doubling)
  let machinesResume = null;  // { after, at }: the last id a load that failed part-way got, and when
  let machinesRetryTimer, staleTimer;
  function loadMachines() {
    if (!machinesLoading) {
      const loading = loadAllMachines().finally(() => { if (machinesLoading === loading) machinesLoading = null; });
      machinesLoading = loading;
    }
    return machinesLoading;
  }
  // Sign-out: the next key starts from nothing, with a load of its own (one still running for the last key is dropped).
  function forgetMachines() {
    machinesSession++;
    machinesLoading = null; machinesLoadedAt = 0; machinesComplete = machinesStale = false;
    machinesBackoff = 0; machinesResume = null;
    clearTimeout(machinesRetryTimer); clearTimeout(staleTimer); clearTimeout(changedTimer); changedTimer = null; changed.clear();
    state.machines = new Map(); state.chartMachine = null;
    if (state.chart) { state.chart.destroy(); state.chart = null; }
    $('score-chart').replaceChildren(); $('chart-machine').textContent = '';
    listedIds = ''; $('machine-ids').replaceChildren();
    renderFilters(); renderMachines();
  }
  // A machine fetched on its own: one the list did not have yet goes in its place, keeping the Map in id order.
  function putMachine(id, m) {
    if (state.machines.has(id)) { state.machines.set(id, m); return; }
    state.machines = new Map([...state.machines, [id, m]].sort(([a], [b]) => byId(a, b)));
    renderFilters();
  }
  // A refresh that fails keeps the machines loaded before, and says so.
  const refreshMachines = () => loadMachines().catch((e) => {
    if (state.key && e.status !== 401 && e.status !== 403)
      machinesStatus(`could not load the machines (${e.message})${state.machines.size ? '; showing those loaded before' : ''}`, true);
  });
  function machinesStatus(text, partial = false) {
    const s = $('machines-status');
    s.textContent = text || ''; s.hidden = !text; s.classList.toggle('partial', partial);
  }
  async function loadAllMachines() {
    const session = machinesSession;
    clearTimeout(machinesRetryTimer);
    machinesStale = false; // this load brings the changes so far
    const loaded = new Map();
    let path = `/api/machines?limit=${MACHINES_PER_PAGE}`, failure = null;
    // Soon after a load that failed part-way (within the list's interval), the next one goes on after the last page
    // that came rather than asking every machine before it again.
    const resume = machinesResume && Date.now() - machinesResume.at < machinesEvery() ? machinesResume.after : null;
    if (resume != null) {
      for (const [id, m] of state.machines) if (id <= resume) loaded.set(id, m);
      path = `/api/machines?after=${enc(resume)}&limit=${MACHINES_PER_PAGE}`;
    }
    // The first load says how far it got; a refresh keeps the table it has meanwhile, without a word.
    const first = state.machines.size === 0;
    while (path) {
      if (first) machinesStatus(`loading machines… ${loaded.size ? `${loaded.size.toLocaleString()} so far` : ''}`);
      let response, page;
      try { response = await api(path); page = await response.json(); } catch (e) {
        if (session !== machinesSession) return; // signed out meanwhile
        // Nothing loaded, or a refused key: the caller says what failed (boot tries again). Part-way: keep what came.
        if (!loaded.size || e.status === 401 || e.status === 403) { machinesStatus(''); throw e; }
        failure = e; break;
      }
      if (session !== machinesSession) return; // signed out meanwhile: neither its next page nor what it got
      for (const m of page) loaded.set(m.machineId, m);
      path = nextPage(response.headers.get('Link'));
    }
    if (failure) {
      // The machines after the last page that came keep what an earlier load said of them, rather than vanish.
      const last = [...loaded.keys()].pop(), fresh = loaded.size;
      for (const [id, m] of state.machines) if (id > last) loaded.set(id, m);
      const kept = loaded.size - fresh;
      // Tried again after 3 s, doubling up to the list's own interval; only while the Machines page is shown, unless
      // no load has got every machine yet (the queue's filter and thresholds want them too). A fault of the cluster
      // does not have every open console ask every machine every 3 s.
      machinesBackoff = Math.min(machinesBackoff ? machinesBackoff * 2 : RETRY_MS, machinesEvery(loaded.size));
      machinesResume = { after: last, at: Date.now() };
      machinesStatus(`loaded ${fresh.toLocaleString()} machines (ids up to ${last}); the next page failed (${failure.message}): `
        + `${kept ? `the ${kept.toLocaleString()} after them are as last loaded; ` : ''}trying again in ${Math.round(machinesBackoff / 1000)} s`, true);
      clearTimeout(machinesRetryTimer);
      machinesRetryTimer = setTimeout(() => {
        if (session === machinesSession && (document.body.dataset.page === 'machines' || !machinesComplete)) refreshMachines();
      }, machinesBackoff);
    } else {
      machinesStatus('');
      machinesComplete = true; machinesBackoff = 0; machinesResume = null;
    }
    machinesLoadedAt = Date.now();
    state.machines = new Map([...loaded].sort(([a], [b]) => byId(a, b)));
    renderMachines();
    renderFilters();
    if (!state.chartMachine && loaded.size) {
      const all = [...state.machines.values()];
      state.chartMachine = (all.find((m) => !m.unreadable) || all[0]).machineId;
    }
    if (document.body.dataset.page === 'machines') drawChart();
  }

  // Rows follow their machines' events. Many events at once (a plant of thousands) are gathered for a second and
  // fetched together — or, past a few dozen machines, by one load of the list — and only while the page is shown: the
  // page loads the list again when it is opened.
  const changed = new Set();
  let changedTimer;
  function machineChanged(id) {
    if (document.body.dataset.page !== 'machines') return;
    changed.add(id);
    if (!changedTimer) changedTimer = setTimeout(refreshChanged, 1000);
  }
  async function refreshChanged() {
    changedTimer = null;
    const ids = [...changed]; changed.clear();
    if (!state.key || document.body.dataset.page !== 'machines') return;
    // Past 40, the list is marked stale and loaded when its interval allows (at once if it is already due), not at
    // once: at 10,000 machines and 100 label requests a second every open console would reload it back to back.
    if (ids.length > 40) { machinesStale = true; reloadWhenDue(); return; }
    const session = machinesSession;
    const got = await Promise.all(ids.map((id) => json(`/api/machines/${enc(id)}`).then((m) => [id, m], () => null /* shown on the next load */)));
    if (session !== machinesSession) return;
    for (const [id, m] of got.filter(Boolean)) putMachine(id, m);
    renderMachines();
  }
  function reloadWhenDue() {
    clearTimeout(staleTimer);
    staleTimer = setTimeout(() => {
      if (machinesStale && state.key && document.body.dataset.page === 'machines') refreshMachines();
    }, Math.max(0, machinesLoadedAt + machinesEvery() - Date.now()));
  }
  async function refreshMachine(id) {
    const session = machinesSession;
    try {
      const m = await json(`/api/machines/${enc(id)}`);
      if (session === machinesSession) { putMachine(id, m); renderMachines(); }
    } catch { /* shown on next load */ }
  }

  // The machines the filter and type let through, in the chosen order.
  function shownMachines() {
    const text = $('machines-filter').value.trim().toLowerCase(), type = $('machines-type').value;
    const all = [...state.machines.values()].filter((m) => (!text || m.machineId.toLowerCase().includes(text))
      && (!type || machineType(m.machineId) === type));
    const byMachine = (a, b) => byId(a.machineId, b.machineId);
    const sort = $('machines-sort').value;
    // What an operator looks at first: machines that cannot be read, then those spending past their budget, then those not enrolled.
    const attention = (m) => (m.unreadable ? 0 : m.overspent ? 1 : !m.enrolled ? 2 : 3);
    if (sort === 'pending') all.sort((a, b) => (b.pendingLabelRequests || 0) - (a.pendingLabelRequests || 0) || byMachine(a, b));
    else if (sort === 'attention') all.sort((a, b) => attention(a) - attention(b) || byMachine(a, b));
    return all; // state.machines is kept in id order (a full load sorts it, putMachine() inserts in place)
  }

  function renderMachines() {
    const body = $('machines-list');
    const focused = body.contains(document.activeElement) ? document.activeElement.dataset.machine : null;
    const matching = shownMachines();
    const rows = matching.slice(0, MACHINE_ROWS);
    const total = state.machines.size, n = (x) => x.toLocaleString();
    const filtered = matching.length < total;
    $('machines-shown').textContent = rows.length < matching.length
      ? `showing ${n(rows.length)} of ${n(matching.length)}${filtered ? ` matching (${n(total)} machines)` : ''} — narrow with the filter`
      : filtered ? `${n(matching.length)} of ${n(total)} machines match` : `${n(total)} machines`;
    body.replaceChildren(...rows.map((m) => {
      // A machine that cannot be read is shown as such, with why; its other fields say nothing.
      if (m.unreadable) {
        return el('tr', { 'data-machine': m.machineId, class: 'unreadable' }, el('td', { text: m.machineId }),
          el('td', {}, el('span', { class: 'pill off', text: 'unreadable', title: m.unreadable })),
          el('td', { colSpan: 12, class: 'unreadable-reason', text: `cannot be read: ${m.unreadable}` }));
      }
      const s = m.settings || {};
      // A row opens its score history by mouse or keyboard (Tab to it, Enter or Space).
      const row = el('tr', { 'data-machine': m.machineId, class: m.machineId === state.chartMachine ? 'selected' : '', tabIndex: 0,
        'aria-label': `${m.machineId}: open its score history`, 'aria-current': m.machineId === state.chartMachine ? 'true' : 'false' },
        el('td', { text: m.machineId }),
        el('td', {}, el('span', { class: `pill ${m.enrolled ? 'ok' : 'off'}`, text: m.enrolled ? 'enrolled' : 'not enrolled' })),
        el('td', { text: s.strategy || '' }),
        el('td', { text: fmt(s.budget, 2) }),
        el('td', { class: 'realised', title: m.overspent ? `labelled ${fmt(m.realisedBudget, 3)} of clips, more than b + 0.02 after ${m.clipsSeen} clips` : '' },
          fmt(m.realisedBudget, 3), ...(m.overspent ? [' ', el('span', { class: 'pill off overspent', text: 'overspent' })] : [])),
        el('td', { class: 'clips', text: String(m.clipsSeen) }),
        el('td', { class: 'queries', text: m.forcedQueries > 0 ? `${m.queries} (${m.forcedQueries} forced)` : String(m.queries),
          title: m.forcedQueries > 0 ? `${m.forcedQueries} of ${m.queries} label requests made by the budget's floor where the strategy passed` : '' }),
        el('td', { class: 'normal-set', text: String(m.referenceSetSize) }),
        el('td', { class: 'anomaly-set', text: String(m.anomalySetSize) }),
        el('td', { class: 'labels', text: `${m.normalLabels}/${m.anomalousLabels}`,
          title: `${m.declinedLabelRequests || 0} declined ("can't tell"), ${m.expiredLabelRequests || 0} expired or withdrawn unanswered` }),
        el('td', { class: 'pending', text: String(m.pendingLabelRequests) }),
        el('td', { class: 'phi', text: m.decisionThresholdTarget != null ? `${fmt(m.decisionThreshold)} / ${fmt(m.decisionThresholdTarget)}` : fmt(m.decisionThreshold),
          title: m.decisionThresholdTarget != null ? 'φ of the source / the target domain: a clip is compared with the φ of its nearest reference\'s domain' : '' }),
        el('td', { class: 'scoring', text: m.scoring || '' }),
        el('td', { class: 'embedder', text: m.embedder || '–', title: m.modelVersion || '' }));
      const open = () => { state.chartMachine = m.machineId; renderMachines(); drawChart(); };
      row.addEventListener('click', open);
      row.addEventListener('keydown', (event) => { if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); open(); } });
      return row;
    }));
    // The rows are rebuilt on every refresh: a keyboard user keeps their place.
    if (focused) body.querySelector(`tr[data-machine="${CSS.escape(focused)}"]`)?.focus();
  }

  // The machine filters are typed, with the ids offered as the browser's suggestions (one <datalist> shared by the
  // pages): a <select> of thousands of options is neither quick to build nor to use. Rebuilt only when the ids change.
  let listedIds = '';
  function renderFilters() {
    const ids = [...state.machines.keys()];
    const signature = ids.join('\n');
    if (signature !== listedIds) {
      listedIds = signature;
      $('machine-ids').replaceChildren(...ids.map((id) => el('option', { value: id })));
    }
    const types = [...new Set(ids.map(machineType))].sort();
    for (const select of [$('filter-type'), $('machines-type')]) {
      const keep = select.value;
      select.replaceChildren(el('option', { value: '', text: 'all' }), ...types.map((v) => el('option', { value: v, text: v })));
      select.value = types.includes(keep) ? keep : '';
    }
  }
  for (const control of ['machines-filter', 'machines-type', 'machines-sort'])
    $(control).addEventListener(control === 'machines-filter' ? 'input' : 'change', () => renderMachines());

  // ---- score chart (uPlot) -----------------------------------------------------------------------------------
  async function drawChart() {
    const id = state.chartMachine;
    const box = $('score-chart');
    $('chart-machine').textContent = id ? `— ${id}` : '';
    if (!id) return;
    let points;
    try { points = await json(`/api/machines/${enc(id)}/scores`); } catch (e) { toast(e.message); return; }
    if (id !== state.chartMachine) return;
    $('chart-empty').hidden = points.length > 0;
    // x: the clip's position in the history (clip indices restart when a machine is re-enrolled).
    const x = points.map((_, i) => i);
    const only = (pred) => points.map((p) => (pred(p) ? p.score : null));
    const unanswered = (p) => p.label == null && ['declined', 'expired', 'withdrawn'].includes(p.requestOutcome);
    const data = [x, points.map((p) => p.score), points.map((p) => p.decisionThreshold),
      only((p) => p.anomalous), only((p) => p.labelRequested && p.label == null && !unanswered(p)), only(unanswered),
      only((p) => p.label === 'Normal' || p.label === 0), only((p) => p.label === 'Anomalous' || p.label === 1)];
    const dots = (stroke, size) => ({ stroke, fill: stroke, paths: () => null, points: { show: true, size, stroke, fill: stroke } });
    const options = {
      width: Math.max(240, box.clientWidth || 900), height: 300,
      scales: { x: { time: false } },
      axes: [{ label: `last ${points.length} clips, oldest → newest` }, { label: 'score' }],
      series: [{ label: 'clip' },
        { label: 'score', stroke: '#2f6fde', width: 1, points: { show: false } },
        // φ changes from one clip to the next (the domain of its nearest reference): a step, not a slope between them.
        { label: 'φ', stroke: '#1d2330', width: 2, dash: [6, 4], points: { show: false }, paths: uPlot.paths.stepped({ align: 1 }) },
        Object.assign({ label: 'alert' }, dots('#d92d20', 7)),
        Object.assign({ label: 'requested' }, dots('#f79009', 9)),
        Object.assign({ label: 'unanswered' }, dots('#98a2b3', 9)),
        Object.assign({ label: 'normal' }, dots('#12a150', 11)),
        Object.assign({ label: 'anomalous' }, dots('#8a2be2', 11))],
      legend: { show: false },
    };
    if (state.chart) state.chart.destroy();
    box.replaceChildren();
    state.chart = new uPlot(options, data, box);
    box.dataset.points = String(points.length);
  }

  // ---- label queue -------------------------------------------------------------------------------------------
  async function loadQueue() {
    const list = await json('/api/label-requests?limit=500');
    const known = new Set(list.map((r) => `${r.machineId}/${r.clipId}`));
    // Keep the queue's order (skipped requests stay at the back); drop answered or expired ones, add new ones.
    state.requests = state.requests.filter((r) => known.has(`${r.machineId}/${r.clipId}`));
    const listed = new Map(list.map((r) => [`${r.machineId}/${r.clipId}`, r]));
    for (const r of state.requests) { const now = listed.get(`${r.machineId}/${r.clipId}`); r.claimedBy = now.claimedBy; r.claimedUntil = now.claimedUntil; }
    const have = new Set(state.requests.map((r) => `${r.machineId}/${r.clipId}`));
    // The answer held for undo is still open on the machine: it stays out until it is sent or undone.
    for (const r of list) if (!have.has(`${r.machineId}/${r.clipId}`) && `${r.machineId}/${r.clipId}` !== heldKey()) state.requests.push(r);
    renderQueue();
  }

  // The φ a request's clip was compared with (its domain's); the machine's own for requests stored before it was recorded.
  const thresholdOf = (r) => r.decisionThreshold ?? state.machines.get(r.machineId)?.decisionThreshold;
  // Above that threshold: the machine raised an alert for the clip.
  const isAlert = (r) => { const phi = thresholdOf(r); return phi != null && r.score > phi; };
  // The typed machine filter: a whole machine id shows that machine only (fan-1 not fan-10); part of one, every machine
  // whose id contains it.
  function machineMatch(text) {
    const m = text.trim();
    if (!m) return () => true;
    if (state.machines.has(m)) return (id) => id === m;
    const part = m.toLowerCase();
    return (id) => id.toLowerCase().includes(part);
  }
  function visible() {
    const m = machineMatch($('filter-machine').value), t = $('filter-type').value;
    const shown = state.requests.filter((r) => m(r.machineId) && (!t || machineType(r.machineId) === t));
    // Alerts first keeps the queue's order within each group, so a skipped alert goes behind the other alerts.
    return $('queue-order').value === 'alerts' ? [...shown.filter(isAlert), ...shown.filter((r) => !isAlert(r))] : shown;
  }

  function scoreBar(score, threshold) {
    const top = Math.max(score, threshold) * 1.25 || 1;
    return el('div', { class: 'score-bar', title: `score ${fmt(score)} vs threshold φ ${fmt(threshold)}` },
      el('div', { class: `fill ${score > threshold ? 'over' : ''}`, style: `width:${(100 * score / top).toFixed(1)}%` }),
      el('div', { class: 'mark', style: `left:${(100 * threshold / top).toFixed(1)}%` }));
  }

  // Why the machine asked (the request's queryReason): the strategy's branch, or the budget's floor.
  const reasons = {
    uncertain: ['near the threshold', 'the score was above the labelling threshold h: the machine is unsure'],
    random: ['random check', 'a random draw within the budget: a spot check of an ordinary clip'],
    committee: ['committee split', 'the committee of reference sets disagreed about this clip'],
    'budget-floor': ['budget due', 'the strategy passed, but labels were due: the paced budget keeps the rate at b'],
    unrecorded: ['reason not recorded', 'asked before the machine recorded why'],
  };
  function reasonTag(reason) {
    const [text, title] = reasons[reason] ?? reasons.unrecorded;
    return el('span', { class: `pill reason ${reason ?? 'unrecorded'}`, 'data-reason': reason ?? 'unrecorded', text, title });
  }

  // A machine's newest clips labelled normal (GET …/normal-examples), asked once per machine until a new normal label
  // arrives: a labeller compares the clip with how the machine sounds when it is fine.
  const normalExamples = new Map(); // machine → Promise<[{clipId, labelledAt, audioUrl}]>
  const examplesOf = (machineId) => {
    if (!normalExamples.has(machineId))
      normalExamples.set(machineId, json(`/api/machines/${enc(machineId)}/normal-examples`).catch(() => { normalExamples.delete(machineId); return []; }));
    return normalExamples.get(machineId);
  };
  async function offerNormalExample(r, slot) {
    const [example] = await examplesOf(r.machineId);
    if (!example || slot.firstChild) return;
    slot.append(el('button', { type: 'button', class: 'hear-normal skip', text: '▶ A normal clip (r)',
      title: `${example.clipId}, labelled normal ${time(example.labelledAt)}: how ${r.machineId} sounds when it is fine`,
      onclick: async (event) => {
        const button = event.currentTarget;
        try {
          button.replaceWith(el('audio', { controls: true, autoplay: true, class: 'normal-audio', src: await blobUrl(example.audioUrl, `${r.machineId}/${r.clipId}`),
            'aria-label': `normal clip ${example.clipId} of ${r.machineId}` }));
        } catch (e) { toast(`normal clip: ${e.message}`); }
      } }));
  }
  // A new normal label on a machine: its cards that offered nothing yet may offer it now.
  function normalLabelled(machineId) {
    normalExamples.delete(machineId);
    for (const r of state.requests) if (r.machineId === machineId && cards.get(`${r.machineId}/${r.clipId}`)?.mediaFetched)
      offerNormalExample(r, cards.get(`${r.machineId}/${r.clipId}`).querySelector('.normal-example'));
  }

  const cards = new Map(); // "machine/clip" → <li>
  // A gateway's clip: the silo holds no audio, the gateway's reference says where it is (a link when it is a web address).
  const atGateway = (reference) => el('span', { class: 'audio-elsewhere' }, 'at the gateway: ',
    /^https?:\/\//i.test(reference) ? el('a', { href: reference, target: '_blank', rel: 'noopener noreferrer', text: reference }) : el('code', { text: reference }));

  function card(r) {
    const owner = `${r.machineId}/${r.clipId}`;
    if (cards.has(owner)) return cards.get(owner);
    const threshold = thresholdOf(r);
    const image = el('img', { class: 'spectrogram', alt: `spectrogram of ${r.clipId}` });
    const base = `/api/machines/${enc(r.machineId)}/clips/${enc(r.clipId)}`;
    let audio, media = () => {};
    if (r.audioReference && !r.audioUrl) {
      audio = el('p', { class: 'gateway-audio' }, 'audio ', atGateway(r.audioReference));
      image.alt = 'no spectrogram: the silo holds no audio for this clip';
    } else {
      audio = el('audio', { controls: true, preload: 'auto', 'aria-label': `clip ${r.clipId} of ${r.machineId}` });
      audio.addEventListener('play', () => claim(r));
      media = () => loadMedia(r, owner, base, audio, image);
    }
    const button = (cls, text, label) => el('button', { type: 'button', class: cls, text, onclick: () => answer(r, label) });
    const li = el('li', { class: 'request', 'data-machine': r.machineId, 'data-clip': r.clipId, 'aria-label': `${r.machineId} · ${r.clipId}` },
      el('h3', { text: `${r.machineId} · ${r.clipId}` }),
      image,
      el('div', { class: 'meta' }, reasonTag(r.queryReason),
        ` asked ${time(r.requestedAt)} · score ${fmt(r.score)} vs φ ${fmt(threshold)}${threshold != null && r.score > threshold ? ' (alert)' : ''}`,
        el('span', { class: 'claim' })),
      threshold != null ? scoreBar(r.score, threshold) : null,
      audio,
      el('p', { class: 'audio-status error', hidden: true }),
      el('div', { class: 'normal-example' }),
      el('div', { class: 'actions' },
        button('normal', 'Normal (n)', 'normal'), button('anomalous', 'Anomalous (a)', 'anomalous'),
        el('button', { type: 'button', class: 'decline skip', text: "Can't tell (d)", title: 'close the request without a label: better than a guess, which puts the clip in the wrong set', onclick: () => decline(r) }),
        el('button', { type: 'button', class: 'skip', text: 'Skip (s)', onclick: () => skip(r) })));
    // Not a click on its buttons: an answer or a skip has moved the selection on already (a skipped card is still in
    // the queue, at its back, and would be selected again under the next key).
    li.addEventListener('click', (event) => {
      if (event.target.closest('button')) return;
      const i = visible().indexOf(r); if (i >= 0) { select(i); markCurrent(); }
    });
    // Focus inside a card (Tab to its buttons or player) makes it the current one: the keys answer the card in focus.
    li.addEventListener('focusin', () => { const i = visible().indexOf(r); if (i >= 0 && i !== state.current) { select(i); markCurrent(); } });
    cards.set(owner, li);
    showClaim(r, li);
    li.fetchMedia = () => {
      if (li.mediaFetched) return;
      li.mediaFetched = true;
      nearScreen.unobserve(li);
      media();
      offerNormalExample(r, li.querySelector('.normal-example'));
    };
    nearScreen.observe(li);
    return li;
  }
  // A card fetches its audio, spectrogram and normal example when it comes near the screen (or is selected): a queue of
  // hundreds of requests from as many machines does not ask for them all at once, ahead of the card being listened to.
  const nearScreen = new IntersectionObserver((entries) => {
    for (const entry of entries) if (entry.isIntersecting) entry.target.fetchMedia();
  }, { rootMargin: '1500px 0px' });

  // A card's audio and spectrogram. A failed fetch (the silo restarting) is tried again while the card is shown, and
  // said on the card rather than in the toast, which keeps what the labeller needs to read (say, an answer not sent).
  function loadMedia(r, owner, base, audio, image, attempt = 0) {
    const status = () => cards.get(owner)?.querySelector('.audio-status');
    const again = (what, e) => {
      const slot = status();
      if (!slot || !state.key) return; // the card is gone, or signed out
      const gone = e.status === 404 || e.status === 410; // the silo no longer holds it: asking again will not help
      slot.textContent = `${what} did not load (${e.message})${gone ? '' : '; trying again…'}`; slot.hidden = false;
      if (gone) return;
      setTimeout(() => loadMedia(r, owner, base, audio, image, attempt + 1), Math.min(2000 * 2 ** attempt, 15000));
    };
    const pending = [];
    if (!audio.src) pending.push(blobUrl(r.audioUrl ?? `${base}/audio`, owner).then((u) => { audio.src = u; }));
    if (!image.src) pending.push(blobUrl(`${base}/spectrogram.png`, owner).then((u) => { image.src = u; }).catch((e) => {
      if (e.status === 404) { image.alt = 'no spectrogram'; return; } throw e; }));
    Promise.all(pending).then(() => { const slot = status(); if (slot) slot.hidden = true; })
      .catch((e) => again(audio.src ? 'the spectrogram' : 'the audio', e));
  }

  // ---- who is listening: playing a card's clip claims it (POST …/claim) so other labellers pick another ----------
  // A claim is advice, not a lock: it lapses after 2 minutes unless renewed, and any answer ends it. Without a name
  // there is nothing to say, so nothing is claimed.
  const RENEW_MS = 45000;
  let mine = null; // { r, timer }: the request this labeller claimed last
  const othersClaim = (r) => r.claimedBy && r.claimedBy !== state.labeller && new Date(r.claimedUntil) > new Date();
  function showClaim(r, li = cards.get(`${r.machineId}/${r.clipId}`)) {
    if (!li) return;
    const other = othersClaim(r);
    li.classList.toggle('claimed', !!other);
    const slot = li.querySelector('.claim');
    slot.replaceChildren(...(other ? [' ', el('span', { class: 'pill listening', text: `${r.claimedBy} is listening`,
      title: `${r.claimedBy} opened this clip and holds it until ${new Date(r.claimedUntil).toLocaleTimeString()}: pick another, or answer anyway` })] : []));
  }
  async function claim(r) {
    if (!state.labeller) return;
    if (mine && mine.r !== r) release();
    if (mine?.r === r) return; // held and renewed already
    const path = `/api/machines/${enc(r.machineId)}/clips/${enc(r.clipId)}/claim`;
    mine = { r, timer: null };
    const renew = async () => {
      try {
        const held = await json(path, { method: 'POST', headers: byLabeller() });
        Object.assign(r, { claimedBy: held.claimedBy, claimedUntil: held.claimedUntil });
      } catch (e) {
        if (mine?.r === r) { clearInterval(mine.timer); mine = null; }
        if (e.status === 409) toast(`${r.clipId}: ${e.message}`); // someone else listens: told, not stopped
      }
      showClaim(r);
    };
    // Renewed while this card stays the one in front of the labeller, on a page they can see, for 10 minutes at most:
    // a labeller who walked away lets the clip go to the others.
    const since = Date.now();
    const stillListening = () => requestOf(r.machineId, r.clipId) && visible()[state.current] === r
      && document.visibilityState === 'visible' && Date.now() - since < 10 * 60000;
    mine.timer = setInterval(() => { if (stillListening()) renew(); else release(); }, RENEW_MS);
    await renew();
  }
  function release(keepalive = false) {
    if (!mine) return;
    const { r, timer } = mine;
    clearInterval(timer); mine = null;
    if (!state.key || !requestOf(r.machineId, r.clipId)) return; // answered: the answer ended the claim
    fetch(`/api/machines/${enc(r.machineId)}/clips/${enc(r.clipId)}/claim`, { method: 'DELETE', keepalive, headers: Object.assign({ 'X-Api-Key': state.key }, byLabeller()) }).catch(() => {});
  }

  function renderQueue() {
    const list = visible();
    for (const [owner, li] of cards) {
      // A card whose answer is held or on its way keeps its audio: it comes back as it was on Undo or a failed send.
      if (!state.requests.some((r) => `${r.machineId}/${r.clipId}` === owner) && !answering.has(owner)) { releaseBlobs(owner); cards.delete(owner); nearScreen.unobserve(li); li.remove(); }
    }
    $('queue-list').replaceChildren(...list.map(card));
    for (const r of list) showClaim(r); // claims refreshed by a listing, and those that lapsed
    $('queue-empty').hidden = list.length > 0;
    $('queue-count').textContent = String(state.requests.length);
    if (state.selected && list.includes(state.selected)) state.current = list.indexOf(state.selected);
    else if (state.selected) {
      // The selected card went without the labeller (answered or closed elsewhere, or a refresh dropped it): nothing is
      // selected until they choose, so a key pressed now answers no card they did not pick (the next one took its place).
      toast(`${state.selected.clipId} left the queue (answered or closed elsewhere): no card is selected; ↓ selects the one in its place`);
      state.gap = state.current; state.current = -1; state.selected = null;
    } else if (state.current >= 0) select(Math.min(state.current, Math.max(0, list.length - 1)), list); // the labeller's own move, or none yet
    markCurrent();
  }

  // Selects the visible card at index i (the selection is the card; the index is where it is now).
  function select(i, list = visible()) {
    state.current = i;
    state.selected = list[i] ?? null;
  }

  // scroll: a move by the labeller (a key, Label it, an answer) brings the card into view; a refresh does not move the page.
  function markCurrent(scroll = false) {
    const list = visible();
    list.forEach((r, i) => {
      const li = card(r), on = i === state.current;
      li.classList.toggle('current', on);
      if (on) li.setAttribute('aria-current', 'true'); else li.removeAttribute('aria-current');
    });
    const now = list[state.current];
    if (now) card(now).fetchMedia();
    if (scroll && now && document.body.dataset.page === 'queue') card(now).scrollIntoView({ block: 'nearest' });
  }

  // The queued request of one clip, if any.
  const requestOf = (machineId, clipId) => state.requests.find((r) => r.machineId === machineId && r.clipId === clipId);

  function removeRequest(r) {
    state.requests = state.requests.filter((x) => x !== r);
    renderQueue();
  }

  // ---- an answer waits UNDO_MS before it is sent, so a wrong key can be taken back (z, or the Undo button) --------
  // The machine cannot take a label back (it has joined N or A), so the console holds it briefly instead. One answer is
  // held at a time: the next one sends it at once, and so does leaving or signing out.
  const UNDO_MS = 5000;
  let held = null; // { r, send(keepalive), timer, closedAs: set when the request closed elsewhere meanwhile }
  const heldKey = () => (held ? `${held.r.machineId}/${held.r.clipId}` : null);
  const answering = new Set(); // "machine/clip" of answers held or sent and not yet confirmed: their cards are kept
  // The answer did not get through (the silo away): the request goes back in the queue, with the audio it had.
  function putBack(r, verb, e) {
    answering.delete(`${r.machineId}/${r.clipId}`);
    if (state.key) { state.requests.unshift(r); renderQueue(); }
    toast(`could not ${verb} ${r.clipId}: ${e.message}`);
  }

  // The answer is confirmed (or the request is gone for good): its card and audio go, unless it is queued again.
  function answered(r) {
    const owner = `${r.machineId}/${r.clipId}`;
    answering.delete(owner);
    if (!requestOf(r.machineId, r.clipId)) { releaseBlobs(owner); if (cards.has(owner)) nearScreen.unobserve(cards.get(owner)); cards.get(owner)?.remove(); cards.delete(owner); }
  }
  function hold(r, text, send) {
    sendHeld();
    answering.add(`${r.machineId}/${r.clipId}`);
    if (state.selected === r) state.selected = null; // the labeller's own move: the next card takes its place
    removeRequest(r); // leaves the queue at once; comes back on Undo, or if the server refuses
    passClaimed();
    held = { r, send, timer: setTimeout(() => sendHeld(), UNDO_MS) };
    $('undo-text').textContent = `${r.clipId}: ${text}`;
    $('undo').hidden = false;
  }
  function sendHeld(keepalive = false) {
    if (!held) return;
    const { send, timer } = held;
    clearTimeout(timer); held = null; $('undo').hidden = true;
    send(keepalive);
  }
  function undo() {
    if (!held) return;
    const { r, timer, closedAs } = held;
    clearTimeout(timer); held = null; $('undo').hidden = true;
    if (closedAs) { answered(r); toast(`${r.clipId}: nothing was sent; the request closed elsewhere meanwhile (${closedAs})`); return; }
    answering.delete(`${r.machineId}/${r.clipId}`);
    state.requests.unshift(r);
    state.selected = r;
    renderQueue();
    markCurrent(true);
    toast(`${r.clipId}: undone, nothing was sent`);
  }
  $('undo-button').addEventListener('click', undo);
  window.addEventListener('pagehide', () => { sendHeld(true); release(true); }); // keepalive: the requests outlive the page

  function answer(r, label) { hold(r, label, (keepalive) => sendLabel(r, label, keepalive)); }
  // Who answers, when the labeller gave a name at sign-in: the machine records it with the answer.
  const byLabeller = () => (state.labeller ? { 'X-Labeller': state.labeller } : {});
  function decline(r) { hold(r, "can't tell (declined)", (keepalive) => sendDecline(r, keepalive)); }

  async function sendLabel(r, label, keepalive) {
    try {
      const receipt = await json(`/api/machines/${enc(r.machineId)}/clips/${enc(r.clipId)}/label`,
        { method: 'POST', keepalive, headers: Object.assign({ 'Content-Type': 'application/json' }, byLabeller()), body: JSON.stringify({ label }) });
      answered(r);
      toast(`${r.clipId}: ${label}${receipt.alreadyApplied ? ' (already applied)' : ''}`);
      closeAlerts(r.machineId, r.clipId, label, state.labeller);
      if (label === 'normal') normalLabelled(r.machineId);
      await refreshMachine(r.machineId);
      if (r.machineId === state.chartMachine && document.body.dataset.page === 'machines') drawChart();
    } catch (e) {
      // Expired or withdrawn (410), labelled otherwise by someone else (409), unknown (400): the request is gone for good.
      if (e.status === 410 || e.status === 409 || e.status === 400) { answered(r); toast(`${r.clipId}: ${e.message}`); return; }
      putBack(r, 'label', e);
    }
  }

  // Closes the request for every labeller without a label (the query stays spent).
  async function sendDecline(r, keepalive) {
    try {
      const receipt = await json(`/api/machines/${enc(r.machineId)}/clips/${enc(r.clipId)}/decline`, { method: 'POST', keepalive, headers: byLabeller() });
      answered(r);
      toast(`${r.clipId}: declined${receipt.alreadyClosed ? ' (already closed)' : ''}`);
      if (!receipt.alreadyClosed) closeAlerts(r.machineId, r.clipId, 'declined', state.labeller);
      await refreshMachine(r.machineId);
    } catch (e) {
      if (e.status === 409 || e.status === 400) { answered(r); toast(`${r.clipId}: ${e.message}`); return; } // labelled meanwhile, or gone
      putBack(r, 'decline', e);
    }
  }

  function skip(r) {
    if (mine?.r === r) release();
    if (state.selected === r) state.selected = null; // the labeller's own move: the next card takes its place
    state.requests = state.requests.filter((x) => x !== r).concat([r]);
    renderQueue();
    passClaimed();
  }

  // After the labeller's own answer or skip, the selection moves past cards another labeller is listening to (never
  // on its own: a card must not change under a key about to be pressed).
  function passClaimed() {
    const list = visible();
    const free = list.findIndex((r, i) => i >= state.current && !othersClaim(r));
    if (state.current >= 0 && free > state.current) select(free, list);
    markCurrent(true);
  }

  document.addEventListener('keydown', (event) => {
    if (!state.key || document.body.dataset.page !== 'queue') return;
    if (event.ctrlKey || event.metaKey || event.altKey || /^(INPUT|SELECT|TEXTAREA)$/.test(event.target.tagName)) return;
    const list = visible();
    const r = list[state.current];
    if (!r && 'nadspr'.includes(event.key) && list.length > 0) { toast('no card is selected: ↓ or a click selects one'); event.preventDefault(); return; }
    switch (event.key) {
      case 'n': if (r) answer(r, 'normal'); break;
      case 'a': if (r) answer(r, 'anomalous'); break;
      case 'd': if (r) decline(r); break;
      case 's': if (r) skip(r); break;
      case 'z': undo(); break;
      case 'r': { const b = r && card(r).querySelector('button.hear-normal'); if (b) b.click(); } break;
      case 'p': { const a = r && card(r).querySelector('audio'); if (a) a.paused ? a.play() : a.pause(); } break;
      // With none selected, ↓ selects the card that took the place of the one that left, ↑ the one before it.
      case 'ArrowDown': select(Math.min(list.length - 1, state.current < 0 ? state.gap ?? 0 : state.current + 1), list); markCurrent(true); break;
      case 'ArrowUp': select(Math.max(0, (state.current < 0 ? state.gap ?? 0 : state.current) - 1), list); markCurrent(true); break;
      default: return;
    }
    event.preventDefault();
  });
  for (const event of ['input', 'change']) $('filter-machine').addEventListener(event, () => { state.current = 0; state.selected = null; renderQueue(); });
  $('filter-type').addEventListener('change', () => { state.current = 0; state.selected = null; renderQueue(); });
  const ORDER = 'asd.queueOrder';
  $('queue-order').value = localStorage.getItem(ORDER) === 'alerts' ? 'alerts' : 'oldest';
  $('queue-order').addEventListener('change', () => { localStorage.setItem(ORDER, $('queue-order').value); state.current = 0; state.selected = null; renderQueue(); });

  // ---- alerts ------------------------------------------------------------------------------------------------
  const ALERTS_KEPT = 500; // loaded, and kept as live alerts arrive
  // The machine whose alerts are listed (null: the plant's). It changes only when the silo answers for the typed id:
  // an id it does not know is said beside the box and leaves the list as it was.
  let alertMachine = null;
  async function loadAlerts(machine = alertMachine) {
    state.alerts = await json(`/api/alerts?limit=${ALERTS_KEPT}${machine ? `&machine=${enc(machine)}` : ''}`);
    alertMachine = machine;
    $('alert-machine-error').textContent = '';
    renderAlerts();
  }
  function alertRow(a, fresh) {
    // The label, else how its request closed without one (declined, expired, withdrawn), else nothing: still open.
    const label = a.label == null ? '' : (a.label === 1 || a.label === 'Anomalous' ? 'anomalous' : 'normal');
    const outcome = label || a.requestOutcome || '';
    return el('tr', { class: fresh ? 'fresh' : '', 'data-machine': a.machineId, 'data-clip': a.clipId },
      el('td', { text: time(a.at || a.detectedAt) }), el('td', { text: a.machineId }), el('td', { text: a.clipId }),
      el('td', { text: String(a.clipIndex) }), el('td', { text: fmt(a.score) }), el('td', { text: fmt(a.decisionThreshold) }),
      el('td', {}, a.labelRequested ? 'yes ' : '', a.labelRequested && !outcome
        ? el('button', { type: 'button', class: 'open-request skip', text: 'Label it', title: 'open its card in the label queue', onclick: () => openRequest(a) })
        : null),
      el('td', { class: 'alert-label' }, outcome ? el('span', { class: `pill ${label || 'unanswered'}`, text: outcome,
        title: label ? '' : `the label request closed without a label (${outcome})` }) : null,
        a.closedBy ? el('span', { class: 'closed-by', text: ` ${a.closedBy}`, title: 'who answered' }) : null),
      el('td', { class: 'alert-audio' }, a.audioUrl
        ? el('button', { type: 'button', class: 'play-alert skip', text: '▶ Listen', title: 'play the flagged clip', onclick: (event) => listen(a, event.currentTarget) })
        : a.audioReference ? atGateway(a.audioReference) : null));
  }
  // The silo keeps the audio of each machine's newest alerts (and of clips awaiting a label); one plays at a time.
  let listening = null;
  async function listen(a, button) {
    if (listening) releaseBlobs(listening);
    listening = `alert:${a.machineId}/${a.clipId}`;
    try {
      const player = el('audio', { controls: true, autoplay: true, src: await blobUrl(a.audioUrl, listening), 'aria-label': `alert clip ${a.clipId} of ${a.machineId}` });
      button.replaceWith(player);
    } catch (e) { toast(`${a.clipId}: ${e.message}`); }
  }
  // An alert whose label was asked and is still awaited: its card in the queue, filters cleared if they hide it.
  function openRequest(a) {
    const r = requestOf(a.machineId, a.clipId);
    if (!r) { toast(`${a.clipId}: no longer waiting for a label (answered or expired)`); return; }
    if (!visible().includes(r)) { $('filter-machine').value = ''; $('filter-type').value = ''; renderQueue(); }
    select(visible().indexOf(r));
    // The queue page is shown first: a hidden page cannot scroll to the card (the hash changes route() later).
    show('queue');
    location.hash = '#queue';
    markCurrent(true);
  }
  // A request closed here or elsewhere shows on its alert at once (the list itself reloads only on a machine filter or
  // a reset): its label, or declined / expired / withdrawn.
  function closeAlerts(machineId, clipId, outcome, by) {
    let changed = false;
    for (const a of state.alerts) {
      if (a.machineId !== machineId || a.clipId !== clipId || (a.requestOutcome === outcome && a.closedBy === (by || null))) continue;
      a.requestOutcome = outcome;
      a.closedBy = by || null;
      // 0 / 1: ClipLabelValue as the API writes it.
      if (outcome === 'normal' || outcome === 'anomalous') a.label = outcome === 'anomalous' ? 1 : 0;
      changed = true;
    }
    if (changed) renderAlerts();
  }
  function renderAlerts() {
    $('alerts-list').replaceChildren(...state.alerts.map((a) => alertRow(a, false)));
    $('alerts-empty').hidden = state.alerts.length > 0;
    $('alert-count').textContent = String(state.alerts.length);
  }
  // A live alert adds its row on top (and drops the oldest past ALERTS_KEPT): a busy plant's alerts do not rebuild the list.
  function addAlert(a) {
    const list = $('alerts-list');
    state.alerts.unshift(a);
    list.prepend(alertRow(a, true));
    while (state.alerts.length > ALERTS_KEPT) { state.alerts.pop(); list.lastElementChild?.remove(); }
    $('alerts-empty').hidden = true;
    $('alert-count').textContent = String(state.alerts.length);
  }
  $('alert-machine').addEventListener('change', () => {
    const typed = $('alert-machine').value.trim();
    loadAlerts(typed || null).catch((e) => {
      const showing = alertMachine ? `${alertMachine}'s alerts` : "the plant's alerts";
      $('alert-machine-error').textContent = `${e.status === 404 || e.status === 400 ? e.message : `could not load ${typed}'s alerts (${e.message})`}; showing ${showing}`;
    });
  });

  // ---- live events (SSE over fetch, resumable with Last-Event-ID) --------------------------------------------
  function setLive(on, why) {
    const l = $('live'); l.textContent = on ? '● live' : why ? 'waiting for the silo…' : 'reconnecting…'; l.classList.toggle('on', on);
    l.title = why || 'live updates (Server-Sent Events)';
  }

  async function connectEvents() {
    if (state.events) state.events.abort();
    const controller = new AbortController();
    state.events = controller;
    while (!controller.signal.aborted && state.key) {
      try {
        const headers = { 'X-Api-Key': state.key, Accept: 'text/event-stream' };
        if (state.lastEventId) headers['Last-Event-ID'] = state.lastEventId;
        const response = await fetch('/api/events', { headers, signal: controller.signal, cache: 'no-store' });
        if (response.status === 401 || response.status === 403) { signOut('the key was not accepted'); return; }
        if (!response.ok && response.headers.get('Retry-After')) {
          // Refused for now (the silo holds its most event streams, or this key does): say why, and wait as long as it
          // asks, with jitter, so that consoles refused together do not all come back together.
          const seconds = Number(response.headers.get('Retry-After')) || 15;
          const problem = await response.json().catch(() => ({}));
          const why = `not live: ${problem.detail || `HTTP ${response.status}`}`;
          if ($('live').title !== why) toast(why); // once, not at every try
          setLive(false, why);
          await new Promise((resolve) => setTimeout(resolve, 1000 * seconds * (1 + Math.random() / 2)));
          continue;
        }
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        setLive(true);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n/g, '\n');
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
            let id = null, type = 'message', data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue;
              const colon = line.indexOf(':');
              const field = colon < 0 ? line : line.slice(0, colon);
              const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
              if (field === 'id') id = text; else if (field === 'event') type = text; else if (field === 'data') data += (data ? '\n' : '') + text;
            }
            if (id) state.lastEventId = id;
            if (data) onEvent(type, JSON.parse(data));
          }
        }
      } catch (e) {
        if (controller.signal.aborted) return;
      }
      setLive(false);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  function onEvent(type, data) {
    if (type === 'label-request') {
      if (!requestOf(data.machineId, data.clipId)) {
        state.requests.push({ machineId: data.machineId, clipId: data.clipId, score: data.score, requestedAt: data.requestedAt, queryReason: data.queryReason,
          audioUrl: data.audioUrl, audioReference: data.audioReference, decisionThreshold: data.decisionThreshold });
        renderQueue();
      }
      machineChanged(data.machineId);
    } else if (type === 'alert') {
      if (!alertMachine || alertMachine === data.machineId) addAlert(Object.assign({ at: data.detectedAt }, data));
      machineChanged(data.machineId);
    } else if (type === 'label-request-closed') {
      // Answered, declined or dropped elsewhere: leaves this queue now, not at the next refresh.
      const closed = requestOf(data.machineId, data.clipId);
      if (closed) removeRequest(closed);
      if (held && heldKey() === `${data.machineId}/${data.clipId}`) held.closedAs = data.outcome; // sent anyway, the machine says why it refuses
      closeAlerts(data.machineId, data.clipId, data.outcome, data.closedBy);
      if (data.outcome === 'normal') normalLabelled(data.machineId);
    } else if (type === 'label-request-claim') {
      const r = requestOf(data.machineId, data.clipId);
      if (r) { r.claimedBy = data.claimedBy; r.claimedUntil = data.claimedUntil; showClaim(r); }
    } else if (type === 'reset') {
      loadQueue(); loadAlerts(); refreshMachines();
    }
    if (document.body.dataset.page === 'machines' && data.machineId === state.chartMachine) scheduleChart();
  }
  let chartTimer;
  function scheduleChart() { clearTimeout(chartTimer); chartTimer = setTimeout(drawChart, 1000); }

  // Requests answered elsewhere (another labeller, the CLI) leave the queue on their closed event, or at the latest at
  // the next refresh. The whole machine list is a page of statuses per 1,000 machines (before stop 56 it also kept every
  // idle machine of a large plant awake), so it refreshes only while shown, and less often the larger the plant (15 s a
  // thousand machines); between loads each row follows its machine's events.
  setInterval(() => {
    if (!state.key) return;
    loadQueue().catch(() => {});
    if (document.body.dataset.page === 'machines' && Date.now() - machinesLoadedAt >= machinesEvery() - 1000)
      refreshMachines();
  }, REFRESH_MS);

  // ---- wiring ------------------------------------------------------------------------------------------------
  $('signin-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('key');
    const key = input.value.trim();
    input.value = '';
    $('signin-error').textContent = '';
    try { await signIn(key, $('labeller').value.trim()); } catch (e) { $('signin-error').textContent = e.message; }
  });
  $('signout').addEventListener('click', () => signOut());
  window.addEventListener('hashchange', route);
  window.addEventListener('resize', () => { if (document.body.dataset.page === 'machines') scheduleChart(); });

  $('labeller').value = state.labeller || '';
  if (state.key) boot(); else show('signin');
})();
