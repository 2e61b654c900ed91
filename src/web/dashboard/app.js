// Dashboard of aranet-service: one card per sensor with its current values and
// a chart of the last 24 hours. Data comes from the REST API (devices, history)
// and the WebSocket stream (snapshot, then live readings). Plain ES2020, no
// build step: this file is embedded into the binary as it is.
'use strict';

(() => {
  // ------------------------------------------------------------ settings

  const DAY_MS = 24 * 60 * 60 * 1000;
  // A chart spans at least this long (or this many measurement intervals), so
  // a new sensor's few points are not stretched across the whole width.
  const MIN_CHART_SPAN_MS = 60 * 1000;
  const MIN_CHART_SPAN_INTERVALS = 20;
  const HISTORY_LIMIT = 10000;
  // 24 h of a sensor measuring every 2 s is 43 200 readings; three pages are
  // plenty for a chart a few hundred pixels wide and keep the page light.
  const HISTORY_MAX_PAGES = 3;
  const DEVICES_REFRESH_MS = 30 * 1000;
  const BACKOFF_FIRST_MS = 1000;
  const BACKOFF_MAX_MS = 30 * 1000;
  // A reading older than this many measurement intervals is stale (as the
  // server's `stale` flag).
  const STALE_INTERVALS = 3;
  const CHART_HEIGHT = 150;
  const CHART_AXIS_HEIGHT = 20;
  const CO2_GOOD_BELOW = 800;
  const CO2_MODERATE_BELOW = 1000;
  const KEY_STORAGE = 'aranet.apiKey';
  const CHART_CHOICE_STORAGE = 'aranet.chart:';

  // Every quantity a reading may carry. `minSpan` keeps a chart's y range
  // from magnifying sensor noise into drama.
  const QUANTITIES = {
    co2: { label: 'CO₂', chip: 'CO₂', unit: 'ppm', digits: 0, minSpan: 100 },
    temperature: { label: 'Temperature', chip: 'Temp', short: 'Temp.', unit: '°C', digits: 1, minSpan: 1 },
    humidity: { label: 'Humidity', chip: 'Humidity', unit: '%', digits: 0, minSpan: 5 },
    pressure: { label: 'Pressure', chip: 'Pressure', unit: 'hPa', digits: 0, minSpan: 2 },
    radon: { label: 'Radon', chip: 'Radon', unit: 'Bq/m³', digits: 0, minSpan: 20 },
    radiation_rate: { label: 'Dose rate', chip: 'Rate', unit: 'µSv/h', digits: 3, minSpan: 0.02 },
    radiation_total: { label: 'Total dose', chip: 'Total', unit: 'mSv', digits: 3, minSpan: 0.001 },
  };
  const FIELDS = Object.keys(QUANTITIES);

  // What each kind shows: the big value, the small tiles, the chart choices.
  const KINDS = {
    aranet4: {
      label: 'Aranet4',
      main: 'co2',
      metrics: ['temperature', 'humidity', 'pressure'],
      charts: ['co2', 'temperature', 'humidity', 'pressure'],
    },
    aranet2: {
      label: 'Aranet2',
      main: 'temperature',
      metrics: ['humidity'],
      charts: ['temperature', 'humidity'],
    },
    aranet_radiation: {
      label: 'Aranet Radiation',
      main: 'radiation_rate',
      metrics: ['radiation_total'],
      charts: ['radiation_rate', 'radiation_total'],
    },
    aranet_radon: {
      label: 'Aranet Radon',
      main: 'radon',
      metrics: ['temperature', 'humidity', 'pressure'],
      charts: ['radon', 'temperature', 'humidity', 'pressure'],
    },
  };

  // The sensor's own colour status, as a CSS tone.
  const STATUS_TONES = { Green: 'good', Yellow: 'moderate', Red: 'poor', Error: 'error' };

  // ------------------------------------------------------------ state

  const app = {
    key: null,
    // Device id -> sensor record (see newSensor).
    sensors: new Map(),
    devicesLoaded: false,
    locked: false,
    // Server clock minus browser clock, from the HTTP Date header; 0 unless
    // they differ clearly, since the header has whole seconds only.
    clockOffsetMs: 0,
    refreshTimer: 0,
    refreshing: null,
    refreshFailures: 0,
    nextDomId: 1,
  };

  const conn = {
    socket: null,
    state: 'idle',
    delay: BACKOFF_FIRST_MS,
    retryAt: 0,
    timer: 0,
    everOpened: false,
    wanted: true,
  };

  const dom = {};

  const now = () => Date.now() + app.clockOffsetMs;
  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

  // ------------------------------------------------------------ storage

  // localStorage may be missing or refuse writes (private modes, quotas):
  // fall back to keeping things in memory for this page only.
  function storageGet(name) {
    try {
      return window.localStorage.getItem(name);
    } catch {
      return null;
    }
  }

  function storageSet(name, value) {
    try {
      if (value === null) window.localStorage.removeItem(name);
      else window.localStorage.setItem(name, value);
    } catch {
      // Not persisted; the in-memory value still works until reload.
    }
  }

  // Takes `?token=KEY` from the address bar into storage, and removes it from
  // the URL so it does not end up in bookmarks, history or shared links.
  function adoptTokenFromUrl() {
    const url = new URL(window.location.href);
    if (!url.searchParams.has('token')) return;
    const token = url.searchParams.get('token').trim();
    url.searchParams.delete('token');
    window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash);
    if (token) storageSet(KEY_STORAGE, token);
    if (token) app.key = token;
  }

  // ------------------------------------------------------------ formatting

  const numberFormats = new Map();

  function formatNumber(value, digits) {
    if (!isNum(value)) return '—';
    let format = numberFormats.get(digits);
    if (!format) {
      format = new Intl.NumberFormat(undefined, {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
      });
      numberFormats.set(digits, format);
    }
    const rounded = Number(value.toFixed(digits));
    // Avoids "-0.0" for values that round to zero from below.
    return format.format(rounded === 0 ? 0 : rounded);
  }

  function formatQuantity(field, value) {
    const q = QUANTITIES[field];
    return q ? formatNumber(value, q.digits) : '—';
  }

  const clockFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
  const clockSecondsFormat = new Intl.DateTimeFormat(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

  function formatAge(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 2) return 'just now';
    if (s < 60) return `${s} s ago`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ago`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h} h ago`;
    return `${Math.floor(h / 24)} d ago`;
  }

  function formatSpan(ms) {
    const m = Math.round(ms / 60000);
    if (m < 60) return `${m} min`;
    const h = Math.round(m / 60);
    return `${h} h`;
  }

  function formatInterval(seconds) {
    if (!isNum(seconds) || seconds <= 0) return null;
    if (seconds < 60) return `every ${seconds} s`;
    if (seconds % 60 === 0 && seconds < 3600) return `every ${seconds / 60} min`;
    return `every ${formatNumber(seconds / 60, 1)} min`;
  }

  // ------------------------------------------------------------ DOM helpers

  // Creates an element; `text` sets its text, `on…` adds listeners, `true`
  // gives a boolean attribute, `null`/`false` leaves one out.
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'class') node.className = value;
      else if (name === 'text') node.textContent = value;
      else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    node.append(...children);
    return node;
  }

  // Sets text only when it differs, so unchanged nodes are not touched.
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function setData(node, name, value) {
    const text = value === null || value === undefined ? null : String(value);
    if (text === null) delete node.dataset[name];
    else if (node.dataset[name] !== text) node.dataset[name] = text;
  }

  // ------------------------------------------------------------ REST

  class AuthError extends Error {}

  async function api(path) {
    const headers = { Accept: 'application/json' };
    if (app.key) headers['X-API-Key'] = app.key;
    const response = await fetch(path, { headers, cache: 'no-store' });
    noteServerClock(response);
    if (response.status === 401) throw new AuthError('unauthorized');
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  // Reading ages are computed against the server's clock, so a browser whose
  // clock is off does not show "in 3 min" or mark every sensor stale.
  function noteServerClock(response) {
    const serverMs = Date.parse(response.headers.get('Date') || '');
    if (!isNum(serverMs)) return;
    const offset = serverMs - Date.now();
    app.clockOffsetMs = Math.abs(offset) > 3000 ? offset : 0;
  }

  // Coalesces overlapping calls (timer, reconnect, a new sensor) into one.
  function refreshDevices() {
    if (!app.refreshing) {
      app.refreshing = loadDevices().finally(() => {
        app.refreshing = null;
      });
    }
    return app.refreshing;
  }

  async function loadDevices() {
    clearTimeout(app.refreshTimer);
    let ok = false;
    try {
      const list = await api('/api/devices');
      applyDevices(Array.isArray(list) ? list : []);
      app.refreshFailures = 0;
      ok = true;
      showBanner(null);
      if (!conn.socket && !conn.timer) connect();
    } catch (err) {
      if (err instanceof AuthError) {
        showAuth();
        return;
      }
      app.refreshFailures += 1;
      showBanner('Cannot reach the gateway. Retrying…');
      if (!conn.everOpened && conn.state === 'idle') setConnState('offline');
    }
    // Retry a failed start soon; otherwise poll for stale flags and new devices.
    const delay = ok
      ? DEVICES_REFRESH_MS
      : Math.min(2000 * 2 ** (app.refreshFailures - 1), DEVICES_REFRESH_MS);
    clearTimeout(app.refreshTimer);
    app.refreshTimer = setTimeout(refreshDevices, delay);
  }

  function applyDevices(list) {
    const fetchedAt = Date.now();
    for (const device of list) {
      if (!isObject(device) || typeof device.id !== 'string') continue;
      const sensor = sensorFor(device.id);
      sensor.device = device;
      sensor.deviceFetchedAt = fetchedAt;
      if (isObject(device.latest)) ingest(sensor, [device.latest]);
      ensureHistory(sensor);
      scheduleRender(sensor);
    }
    app.devicesLoaded = true;
    scheduleRender(null);
  }

  function readingsUrl(sensor, fromSeconds) {
    const id = encodeURIComponent(sensor.id);
    return `/api/devices/${id}/readings?from=${fromSeconds}&limit=${HISTORY_LIMIT}`;
  }

  function ensureHistory(sensor) {
    if (sensor.history !== 'idle') return;
    loadHistory(sensor);
  }

  // The last 24 h, newest page first, following `next` for a few pages.
  async function loadHistory(sensor) {
    sensor.history = 'loading';
    scheduleRender(sensor);
    const base = readingsUrl(sensor, Math.floor((now() - DAY_MS) / 1000));
    try {
      let url = base;
      for (let page = 0; page < HISTORY_MAX_PAGES && url; page += 1) {
        const body = await api(url);
        ingest(sensor, isObject(body) && Array.isArray(body.readings) ? body.readings : []);
        const next = isObject(body) && typeof body.next === 'string' ? body.next : null;
        url = next ? `${base}&before=${encodeURIComponent(next)}` : null;
      }
      sensor.history = 'ready';
    } catch (err) {
      if (err instanceof AuthError) showAuth();
      sensor.history = 'failed';
    }
    scheduleRender(sensor);
  }

  // After a reconnect: what was missed while the socket was down.
  async function backfill(sensor) {
    const last = sensor.points[sensor.points.length - 1];
    if (!last || sensor.history !== 'ready') {
      if (sensor.history === 'failed') sensor.history = 'idle';
      ensureHistory(sensor);
      return;
    }
    try {
      const body = await api(readingsUrl(sensor, Math.floor(last.t / 1000)));
      ingest(sensor, isObject(body) && Array.isArray(body.readings) ? body.readings : []);
    } catch (err) {
      if (err instanceof AuthError) showAuth();
    }
  }

  // ------------------------------------------------------------ WebSocket

  function socketUrl() {
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const token = app.key ? `?token=${encodeURIComponent(app.key)}` : '';
    return `${scheme}//${window.location.host}/api/ws${token}`;
  }

  function connect() {
    clearTimeout(conn.timer);
    conn.timer = 0;
    if (conn.socket || app.locked) return;
    conn.wanted = true;
    setConnState('connecting');
    const socket = new WebSocket(socketUrl());
    let opened = false;
    conn.socket = socket;
    socket.addEventListener('open', () => {
      opened = true;
      conn.delay = BACKOFF_FIRST_MS;
      setConnState('live');
      // The snapshot brings only the latest reading: fetch the gap, and the
      // devices' state (stale flags, an outage banner to clear).
      if (conn.everOpened) {
        app.sensors.forEach(backfill);
        refreshDevices();
      }
      conn.everOpened = true;
    });
    socket.addEventListener('message', onSocketMessage);
    socket.addEventListener('close', () => {
      if (conn.socket !== socket) return;
      conn.socket = null;
      if (!conn.wanted) return;
      scheduleReconnect();
      // A refused handshake looks like any failed connection; the REST call
      // tells whether the key is the reason.
      if (!opened) refreshDevices();
    });
  }

  // 1 s, 2 s, 4 s … 30 s; reset by a successful open.
  function scheduleReconnect() {
    const delay = conn.delay;
    conn.delay = Math.min(conn.delay * 2, BACKOFF_MAX_MS);
    conn.retryAt = Date.now() + delay;
    conn.timer = setTimeout(connect, delay);
    setConnState('waiting');
  }

  function disconnect() {
    conn.wanted = false;
    clearTimeout(conn.timer);
    conn.timer = 0;
    const socket = conn.socket;
    conn.socket = null;
    if (socket) socket.close();
  }

  function reconnectNow() {
    if (conn.state !== 'waiting' && conn.state !== 'offline') return;
    if (conn.state === 'offline') {
      refreshDevices();
      return;
    }
    connect();
  }

  function onSocketMessage(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return; // not ours to understand
    }
    if (!isObject(message) || typeof message.device_id !== 'string') return;
    if (!isObject(message.reading)) return;
    const sensor = sensorFor(message.device_id);
    sensor.liveAt = Date.now();
    ingest(sensor, [message.reading]);
    // A sensor first heard on the socket: get its details and history.
    if (!sensor.device) refreshDevicesSoon();
    ensureHistory(sensor);
  }

  let refreshSoonTimer = 0;
  function refreshDevicesSoon() {
    if (refreshSoonTimer) return;
    refreshSoonTimer = setTimeout(() => {
      refreshSoonTimer = 0;
      refreshDevices();
    }, 1500);
  }

  // ------------------------------------------------------------ sensors

  function sensorFor(id) {
    let sensor = app.sensors.get(id);
    if (!sensor) {
      sensor = newSensor(id);
      app.sensors.set(id, sensor);
    }
    return sensor;
  }

  function newSensor(id) {
    return {
      id,
      domId: `sensor-${app.nextDomId++}`,
      device: null,
      deviceFetchedAt: 0,
      liveAt: 0,
      latest: null,
      latestT: -Infinity,
      // Chart points, oldest first, one per stored reading (deduplicated by id).
      points: [],
      keys: new Set(),
      history: 'idle',
      // The chart's quantity: the one chosen (and saved), and the one shown.
      preferred: storageGet(CHART_CHOICE_STORAGE + id),
      quantity: null,
      ui: null,
      layout: null,
      plot: null,
    };
  }

  function pointFrom(reading) {
    const t = Date.parse(reading.captured_at);
    if (!isNum(t)) return null;
    const point = { t, key: isNum(reading.id) ? `#${reading.id}` : `@${t}` };
    for (const field of FIELDS) point[field] = isNum(reading[field]) ? reading[field] : null;
    return point;
  }

  // Adds readings (any order, duplicates allowed) to the latest value and the
  // chart points.
  function ingest(sensor, readings) {
    const points = sensor.points;
    let unordered = false;
    for (const reading of readings) {
      if (!isObject(reading)) continue;
      const point = pointFrom(reading);
      if (!point) continue;
      if (point.t >= sensor.latestT) {
        sensor.latest = reading;
        sensor.latestT = point.t;
      }
      if (sensor.keys.has(point.key)) continue;
      sensor.keys.add(point.key);
      if (points.length && point.t < points[points.length - 1].t) unordered = true;
      points.push(point);
    }
    if (unordered) points.sort((a, b) => a.t - b.t);
    scheduleRender(sensor);
  }

  function dropOldPoints(sensor, cutoff) {
    const points = sensor.points;
    let count = 0;
    while (count < points.length && points[count].t < cutoff) count += 1;
    if (!count) return;
    for (const point of points.splice(0, count)) sensor.keys.delete(point.key);
  }

  // The kind's layout; for a sensor of unknown kind, one guessed from the
  // fields its readings carry.
  function layoutOf(sensor) {
    const kind = sensor.device && sensor.device.kind;
    if (kind && KINDS[kind]) return { key: kind, ...KINDS[kind] };
    const reading = sensor.latest || {};
    const present = FIELDS.filter((field) => isNum(reading[field]));
    const guess = ['aranet4', 'aranet_radiation', 'aranet_radon'].find((k) =>
      isNum(reading[KINDS[k].main]),
    );
    if (guess) return { key: guess, ...KINDS[guess], label: 'Sensor' };
    if (present.includes('temperature')) return { key: 'aranet2', ...KINDS.aranet2, label: 'Sensor' };
    const main = present[0] || 'temperature';
    return {
      key: `other:${present.join(',')}`,
      label: 'Sensor',
      main,
      metrics: present.filter((f) => f !== main),
      charts: present.length ? present : [main],
    };
  }

  function readingAge(sensor) {
    return sensor.latest ? now() - sensor.latestT : null;
  }

  function intervalOf(sensor) {
    const seconds = sensor.device && sensor.device.interval_s;
    return isNum(seconds) && seconds > 0 ? seconds : null;
  }

  // Stale when the server says so, unless a reading came in since it said it,
  // or when the latest reading is older than a few measurement intervals.
  function isStale(sensor) {
    const device = sensor.device;
    if (device && device.stale === true && sensor.liveAt <= sensor.deviceFetchedAt) return true;
    const age = readingAge(sensor);
    const interval = intervalOf(sensor);
    return age !== null && interval !== null && age > STALE_INTERVALS * interval * 1000;
  }

  function displayName(sensor) {
    const name = sensor.device && sensor.device.name;
    return typeof name === 'string' && name.trim() ? name : sensor.id;
  }

  function batteryOf(sensor) {
    const fromReading = sensor.latest && sensor.latest.battery;
    if (isNum(fromReading)) return fromReading;
    const fromDevice = sensor.device && sensor.device.battery;
    return isNum(fromDevice) ? fromDevice : null;
  }

  function co2Band(ppm) {
    if (!isNum(ppm)) return null;
    if (ppm < CO2_GOOD_BELOW) return { tone: 'good', label: 'Good' };
    if (ppm < CO2_MODERATE_BELOW) return { tone: 'moderate', label: 'Moderate' };
    return { tone: 'poor', label: 'Poor' };
  }

  // Chart choices of the layout that have data, in the layout's order.
  function chartChoices(sensor, layout) {
    const has = (field) =>
      (sensor.latest && isNum(sensor.latest[field])) || sensor.points.some((p) => p[field] !== null);
    const choices = layout.charts.filter(has);
    return choices.length ? choices : [layout.main];
  }

  // ------------------------------------------------------------ rendering

  const dirty = new Set();
  let frame = 0;
  let headerDirty = true;

  // Renders on the next frame, so a burst of messages costs one render.
  function scheduleRender(sensor) {
    if (sensor) dirty.add(sensor);
    headerDirty = true;
    if (!frame) frame = window.requestAnimationFrame(flushRender);
  }

  function flushRender() {
    frame = 0;
    for (const sensor of dirty) renderSensor(sensor);
    dirty.clear();
    if (headerDirty) renderPage();
  }

  function renderSensor(sensor) {
    const layout = layoutOf(sensor);
    if (!sensor.ui || sensor.layout.key !== layout.key) mountCard(sensor, layout);
    updateCard(sensor);
    renderChart(sensor);
  }

  // Builds (or rebuilds, when the kind became known) the card and puts it in
  // name order.
  function mountCard(sensor, layout) {
    const old = sensor.ui;
    sensor.layout = layout;
    sensor.ui = buildCard(sensor, layout);
    if (old) {
      if (resizeObserver) resizeObserver.unobserve(old.chart);
      old.card.replaceWith(sensor.ui.card);
    } else {
      for (const skeleton of dom.grid.querySelectorAll('.card-skeleton')) skeleton.remove();
      insertSorted(sensor);
    }
    watchChartWidth(sensor);
  }

  function insertSorted(sensor) {
    const name = displayName(sensor);
    const after = [...app.sensors.values()]
      .filter((other) => other !== sensor && other.ui && other.ui.card.isConnected)
      .find((other) => displayName(other).localeCompare(name, undefined, { numeric: true }) > 0);
    dom.grid.insertBefore(sensor.ui.card, after ? after.ui.card : null);
  }

  function buildCard(sensor, layout) {
    const ui = {};
    const nameId = `${sensor.domId}-name`;
    const main = QUANTITIES[layout.main];

    ui.name = el('h2', { class: 'card-name', id: nameId });
    ui.kind = el('p', { class: 'card-kind' });
    ui.stale = el('span', { class: 'badge badge-stale', hidden: true }, 'Stale');
    ui.statusText = el('span', { class: 'status-text' });
    ui.status = el(
      'span',
      { class: 'status', hidden: true },
      el('span', { class: 'status-dot', 'aria-hidden': 'true' }),
      ui.statusText,
    );
    ui.battery = buildBattery(ui);

    ui.mainValue = el('span', { class: 'main-value', 'data-role': 'main-value' }, '—');
    ui.band = el('span', { class: 'band', hidden: layout.main !== 'co2' });
    const mainBlock = el(
      'div',
      { class: 'main' },
      el('p', { class: 'main-label', text: main.label }),
      el(
        'p',
        { class: 'main-reading' },
        ui.mainValue,
        el('span', { class: 'main-unit', text: main.unit }),
        ui.band,
      ),
    );

    ui.metrics = new Map();
    const metrics = el('dl', { class: 'metrics' });
    for (const field of layout.metrics) {
      const value = el('span', { class: 'metric-value' }, '—');
      metrics.append(
        el(
          'div',
          { class: 'metric', 'data-field': field },
          metricLabel(QUANTITIES[field]),
          el('dd', {}, value, el('span', { class: 'metric-unit', text: QUANTITIES[field].unit })),
        ),
      );
      ui.metrics.set(field, value);
    }

    ui.toggles = el('div', { class: 'toggles', role: 'group', 'aria-label': 'Chart quantity' });
    ui.range = el('span', { class: 'chart-range' });
    ui.rangeLabel = '';
    ui.svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    ui.svg.setAttribute('class', 'chart-svg');
    ui.svg.setAttribute('role', 'img');
    ui.note = el('p', { class: 'chart-note' });
    ui.cursor = el('div', { class: 'chart-cursor', hidden: true });
    ui.dot = el('div', { class: 'chart-dot', hidden: true });
    ui.tip = el('div', { class: 'chart-tip', hidden: true });
    ui.chart = el(
      'div',
      { class: 'chart', 'data-role': 'chart' },
      ui.svg,
      ui.note,
      ui.cursor,
      ui.dot,
      ui.tip,
    );
    bindChartPointer(sensor, ui.chart);

    ui.age = el('time', { class: 'age', 'data-role': 'age' }, '—');
    ui.meta = el('span', { class: 'card-meta' });

    ui.card = el(
      'article',
      {
        class: 'card',
        'data-device-id': sensor.id,
        'data-kind': layout.key,
        'aria-labelledby': nameId,
      },
      el(
        'header',
        { class: 'card-head' },
        el('div', { class: 'card-title' }, ui.name, ui.kind),
        el('div', { class: 'card-badges' }, ui.stale, ui.status, ui.battery),
      ),
      mainBlock,
      metrics,
      el(
        'div',
        { class: 'chart-block' },
        el('div', { class: 'chart-head' }, ui.toggles, ui.range),
        ui.chart,
      ),
      el('footer', { class: 'card-foot' }, ui.age, ui.meta),
    );
    ui.choices = '';
    return ui;
  }

  // A long and a short label; the stylesheet shows the short one in narrow
  // cards.
  function metricLabel(quantity) {
    const short = quantity.short;
    if (!short) return el('dt', { text: quantity.label });
    return el(
      'dt',
      { title: quantity.label },
      el('span', { class: 'label-long', text: quantity.label }),
      el('span', { class: 'label-short', text: short }),
    );
  }

  function buildBattery(ui) {
    const ns = 'http://www.w3.org/2000/svg';
    const icon = document.createElementNS(ns, 'svg');
    icon.setAttribute('viewBox', '0 0 26 14');
    icon.setAttribute('width', '22');
    icon.setAttribute('height', '12');
    icon.setAttribute('aria-hidden', 'true');
    icon.innerHTML =
      '<rect x="1" y="1" width="21" height="12" rx="3" fill="none" stroke="currentColor" stroke-width="1.6" opacity=".55"/>' +
      '<rect x="23.2" y="4.5" width="2" height="5" rx="1" fill="currentColor" opacity=".55"/>' +
      '<rect class="battery-level" x="3" y="3" width="17" height="8" rx="1.6" fill="currentColor"/>';
    ui.batteryLevel = icon.querySelector('.battery-level');
    ui.batteryText = el('span', { class: 'battery-text' }, '—');
    return el('span', { class: 'battery', title: 'Battery' }, icon, ui.batteryText);
  }

  function updateCard(sensor) {
    const { ui, layout } = sensor;
    const reading = sensor.latest || {};
    const device = sensor.device || {};

    setText(ui.name, displayName(sensor));
    const model = typeof device.model === 'string' && device.model ? device.model : layout.label;
    setText(ui.kind, model);
    ui.name.title = sensor.id;

    setText(ui.mainValue, formatQuantity(layout.main, reading[layout.main]));
    if (layout.main === 'co2') {
      const band = co2Band(reading.co2);
      ui.band.hidden = !band;
      if (band) setText(ui.band, band.label);
      setData(ui.band, 'tone', band && band.tone);
      setData(ui.card, 'band', band && band.tone);
    }
    for (const [field, node] of ui.metrics) setText(node, formatQuantity(field, reading[field]));

    updateStatus(ui, reading.status);
    updateBattery(ui, batteryOf(sensor));
    setData(ui.card, 'readingId', isNum(reading.id) ? reading.id : null);
    updateToggles(sensor);
    updateMeta(sensor);
    updateAge(sensor);
  }

  function updateStatus(ui, status) {
    const tone = typeof status === 'string' ? STATUS_TONES[status] : undefined;
    ui.status.hidden = !tone;
    if (!tone) return;
    setData(ui.status, 'tone', tone);
    setText(ui.statusText, status);
    ui.status.title = `Sensor status: ${status}`;
  }

  function updateBattery(ui, percent) {
    const known = isNum(percent);
    const clamped = known ? Math.max(0, Math.min(100, percent)) : 0;
    ui.batteryLevel.setAttribute('width', String((17 * clamped) / 100));
    setText(ui.batteryText, known ? `${Math.round(clamped)}%` : '—');
    setData(ui.battery, 'low', known && clamped < 15 ? 'true' : null);
    ui.battery.title = known ? `Battery ${Math.round(clamped)}%` : 'Battery unknown';
  }

  function updateMeta(sensor) {
    const device = sensor.device || {};
    const parts = [formatInterval(intervalOf(sensor))];
    // A real minus sign reads better than a hyphen in "−67 dBm".
    if (isNum(device.rssi)) parts.push(`${String(device.rssi).replace('-', '\u2212')} dBm`);
    setText(sensor.ui.meta, parts.filter(Boolean).join(' · '));
  }

  // The live-updating parts: the age of the reading and the stale marker.
  function updateAge(sensor) {
    const { ui } = sensor;
    const age = readingAge(sensor);
    if (age === null) {
      setText(ui.age, 'No reading yet');
      ui.age.removeAttribute('datetime');
    } else {
      setText(ui.age, `Updated ${formatAge(age)}`);
      const iso = new Date(sensor.latestT).toISOString();
      if (ui.age.getAttribute('datetime') !== iso) {
        ui.age.setAttribute('datetime', iso);
        ui.age.title = fullFormat.format(sensor.latestT);
      }
    }
    const stale = isStale(sensor);
    ui.stale.hidden = !stale;
    ui.stale.title = stale && age !== null ? `No new reading for ${formatAge(age).replace(' ago', '')}` : '';
    setData(ui.card, 'stale', stale ? 'true' : 'false');
  }

  function updateToggles(sensor) {
    const { ui, layout } = sensor;
    const choices = chartChoices(sensor, layout);
    // The saved choice wins once its data is there.
    sensor.quantity = choices.includes(sensor.preferred) ? sensor.preferred : choices[0];
    const signature = choices.join(',');
    if (signature !== ui.choices) {
      ui.choices = signature;
      ui.toggles.replaceChildren(
        ...choices.map((field) =>
          el('button', {
            type: 'button',
            class: 'toggle',
            'data-field': field,
            text: QUANTITIES[field].chip,
            title: QUANTITIES[field].label,
            disabled: choices.length < 2,
            onclick: () => chooseQuantity(sensor, field),
          }),
        ),
      );
      // One choice needs no switch: it stays as a label, for an even layout.
      ui.toggles.classList.toggle('single', choices.length < 2);
    }
    for (const button of ui.toggles.children) {
      button.setAttribute('aria-pressed', String(button.dataset.field === sensor.quantity));
    }
  }

  function chooseQuantity(sensor, field) {
    sensor.preferred = field;
    sensor.quantity = field;
    storageSet(CHART_CHOICE_STORAGE + sensor.id, field);
    scheduleRender(sensor);
  }

  function renderPage() {
    headerDirty = false;
    const sensors = [...app.sensors.values()];
    const total = sensors.length;
    dom.grid.setAttribute('aria-busy', String(!app.devicesLoaded && total === 0));
    dom.empty.hidden = app.locked || !app.devicesLoaded || total > 0;
    if (app.devicesLoaded && total === 0) {
      for (const skeleton of dom.grid.querySelectorAll('.card-skeleton')) skeleton.remove();
    }

    if (app.locked) {
      setText(dom.summary, 'Locked');
    } else if (!app.devicesLoaded && total === 0) {
      setText(dom.summary, 'Loading…');
    } else {
      const stale = sensors.filter(isStale).length;
      const count = `${total} sensor${total === 1 ? '' : 's'}`;
      const health = total === 0 ? '' : stale ? ` · ${stale} stale` : ' · all reporting';
      setText(dom.summary, count + health);
    }

    const newest = Math.max(...sensors.map((s) => s.latestT), -Infinity);
    if (isNum(newest)) {
      setText(dom.lastUpdate, `Last reading ${formatAge(now() - newest)}`);
      dom.lastUpdate.title = fullFormat.format(newest);
    } else {
      setText(dom.lastUpdate, app.locked ? '' : 'Waiting for readings');
    }
  }

  // ------------------------------------------------------------ connection state

  // Screen readers hear state changes only, not the countdown's every second.
  const ANNOUNCEMENTS = {
    live: 'Connected, receiving live readings',
    waiting: 'Connection lost, reconnecting',
    offline: 'Cannot reach the gateway',
    locked: 'API key required',
  };

  function setConnState(state) {
    if (state !== conn.state && ANNOUNCEMENTS[state]) {
      setText(dom.connectionAnnounce, ANNOUNCEMENTS[state]);
    }
    conn.state = state;
    renderConnState();
  }

  function renderConnState() {
    const node = dom.connection;
    setData(node, 'state', conn.state);
    let text = 'Connecting…';
    if (conn.state === 'live') text = 'Live';
    else if (conn.state === 'waiting') {
      const seconds = Math.max(1, Math.ceil((conn.retryAt - Date.now()) / 1000));
      text = `Reconnecting in ${seconds} s`;
    } else if (conn.state === 'offline') text = 'Offline';
    else if (conn.state === 'locked') text = 'Key needed';
    setText(dom.connectionText, text);
    const actionable = conn.state === 'waiting' || conn.state === 'offline';
    node.disabled = !actionable;
    node.title = actionable ? 'Reconnect now' : 'Live connection to the gateway';
  }

  function showBanner(message) {
    dom.banner.hidden = !message;
    if (message) setText(dom.banner, message);
  }

  // ------------------------------------------------------------ API key

  function showAuth() {
    const wrongKey = Boolean(app.key);
    app.locked = true;
    disconnect();
    clearTimeout(app.refreshTimer);
    showBanner(null);
    setText(dom.authTitle, wrongKey ? 'Wrong API key' : 'API key required');
    setText(
      dom.authMessage,
      wrongKey
        ? 'The gateway did not accept the saved API key. Enter the current key.'
        : 'This gateway is protected. Enter its API key to see the sensors.',
    );
    dom.auth.dataset.wrong = String(wrongKey);
    dom.auth.hidden = false;
    dom.grid.hidden = true;
    setConnState('locked');
    scheduleRender(null);
    dom.authKey.focus();
  }

  function submitKey(event) {
    event.preventDefault();
    const key = dom.authKey.value.trim();
    if (!key) return;
    app.key = key;
    storageSet(KEY_STORAGE, key);
    dom.authKey.value = '';
    dom.auth.hidden = true;
    dom.grid.hidden = false;
    app.locked = false;
    conn.wanted = true;
    dom.forgetWrap.hidden = false;
    setConnState('connecting');
    refreshDevices();
  }

  function forgetKey() {
    storageSet(KEY_STORAGE, null);
    window.location.reload();
  }

  // ------------------------------------------------------------ chart

  // Re-renders a chart when its width changes (rotation, window resize).
  const resizeObserver =
    'ResizeObserver' in window
      ? new ResizeObserver((entries) => {
          for (const entry of entries) {
            const sensor = [...app.sensors.values()].find((s) => s.ui && s.ui.chart === entry.target);
            if (sensor && Math.round(entry.contentRect.width) !== sensor.renderedWidth) {
              scheduleRender(sensor);
            }
          }
        })
      : null;

  function watchChartWidth(sensor) {
    if (resizeObserver) resizeObserver.observe(sensor.ui.chart);
  }

  function renderChart(sensor) {
    const { ui } = sensor;
    const field = sensor.quantity;
    const quantity = QUANTITIES[field];
    const width = Math.round(ui.chart.clientWidth);
    sensor.renderedWidth = width;
    if (!width || !quantity) return;

    const end = now();
    dropOldPoints(sensor, end - DAY_MS);
    const series = sensor.points.filter((p) => p[field] !== null);
    const interval = intervalOf(sensor);
    const minSpan = Math.max(MIN_CHART_SPAN_MS, (interval || 0) * 1000 * MIN_CHART_SPAN_INTERVALS);
    const start = series.length
      ? Math.max(end - DAY_MS, Math.min(series[0].t, end - minSpan))
      : end - DAY_MS;
    const spanLabel = end - start >= DAY_MS - 60000 ? '24 h' : formatSpan(end - start);
    if (ui.rangeLabel !== spanLabel) {
      // "Last" goes in narrow cards, where the toggles need the room.
      ui.range.replaceChildren(el('span', { class: 'label-long', text: 'Last ' }), spanLabel);
      ui.rangeLabel = spanLabel;
    }
    setData(ui.chart, 'points', series.length);

    if (!series.length) {
      sensor.plot = null;
      ui.svg.replaceChildren();
      ui.svg.setAttribute('aria-label', `${quantity.label}: no data`);
      setText(ui.note, sensor.history === 'loading' ? 'Loading history…' : 'No readings in the last 24 h');
      ui.note.hidden = false;
      hideCursor(ui);
      return;
    }
    ui.note.hidden = true;

    const plot = layoutPlot(sensor, series, field, start, end, width);
    sensor.plot = plot;
    ui.svg.setAttribute('viewBox', `0 0 ${width} ${CHART_HEIGHT}`);
    ui.svg.setAttribute('width', String(width));
    ui.svg.setAttribute('height', String(CHART_HEIGHT));
    ui.svg.setAttribute(
      'aria-label',
      `${quantity.label} over the last ${spanLabel}: from ${formatNumber(plot.min, quantity.digits)} to ` +
        `${formatNumber(plot.max, quantity.digits)} ${quantity.unit}`,
    );
    ui.svg.innerHTML = chartMarkup(sensor, plot, field);
    if (sensor.hoverX !== undefined) showCursorAt(sensor, sensor.hoverX);
  }

  // Scales, decimated points and axis labels for one render. The y labels sit
  // in a gutter on the right, so the line never runs under them.
  function layoutPlot(sensor, series, field, start, end, width) {
    const quantity = QUANTITIES[field];
    const top = 8;
    const bottom = CHART_HEIGHT - CHART_AXIS_HEIGHT;
    const points = decimate(series, field, start, end, width);

    let min = Infinity;
    let max = -Infinity;
    for (const p of points) {
      min = Math.min(min, p.v);
      max = Math.max(max, p.v);
    }
    const scale = niceScale(min, max, quantity.minSpan);
    const digits = Math.max(0, -Math.floor(Math.log10(scale.step)));
    const levels = [];
    for (let v = scale.lo; v <= scale.hi + scale.step / 2; v += scale.step) {
      levels.push({ v, label: formatNumber(v, digits) });
    }
    const longest = Math.max(...levels.map((l) => l.label.length));
    const plotRight = width - Math.ceil(longest * 6.6 + 14);

    const x = (t) => ((t - start) / (end - start)) * plotRight;
    const y = (v) => bottom - ((v - scale.lo) / (scale.hi - scale.lo)) * (bottom - top);
    for (const p of points) {
      p.x = x(p.t);
      p.y = y(p.v);
    }
    // A gap wider than a few intervals (or a few pixels' worth of time) is
    // drawn as a break in the line, not as a straight ramp.
    const interval = intervalOf(sensor);
    const pixelMs = (end - start) / plotRight;
    const gapMs = Math.max((interval ? interval * 1000 : 5 * 60000) * STALE_INTERVALS, pixelMs * 4);
    return { start, end, width, plotRight, top, bottom, scale, levels, x, y, points, gapMs, min, max };
  }


  // At most about two points per pixel column: the lowest and the highest in
  // time order, so peaks survive.
  function decimate(series, field, start, end, pixels) {
    const values = series.map((p) => ({ t: p.t, v: p[field] }));
    if (values.length <= pixels * 2) return values;
    const bucketMs = (end - start) / pixels;
    const out = [];
    let bucket = -1;
    let low = null;
    let high = null;
    const flush = () => {
      if (!low) return;
      if (low === high) out.push(low);
      else if (low.t < high.t) out.push(low, high);
      else out.push(high, low);
    };
    for (const p of values) {
      const b = Math.floor((p.t - start) / bucketMs);
      if (b !== bucket) {
        flush();
        bucket = b;
        low = p;
        high = p;
      } else {
        if (p.v < low.v) low = p;
        if (p.v > high.v) high = p;
      }
    }
    flush();
    return out;
  }

  // Round bounds with 2–4 steps, at least `minSpan` apart.
  function niceScale(min, max, minSpan) {
    let lo = min;
    let hi = max;
    if (hi - lo < minSpan) {
      const middle = (hi + lo) / 2;
      lo = middle - minSpan / 2;
      hi = middle + minSpan / 2;
    }
    const step = niceStep((hi - lo) / 3);
    return {
      lo: Math.floor(lo / step) * step,
      hi: Math.ceil(hi / step) * step,
      step,
    };
  }

  function niceStep(raw) {
    const power = 10 ** Math.floor(Math.log10(raw));
    const fraction = raw / power;
    const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
    return nice * power;
  }

  // Time ticks on round local times, at most one per 85 px.
  const TICK_STEPS_S = [
    10, 15, 30, 60, 120, 180, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 28800, 43200,
  ];
  function timeTicks(start, end, width) {
    const most = Math.max(2, Math.floor(width / 85));
    const seconds = TICK_STEPS_S.find((s) => (end - start) / (s * 1000) <= most) || 43200;
    const step = seconds * 1000;
    const offset = new Date(start).getTimezoneOffset() * 60000;
    const times = [];
    for (let t = Math.ceil((start - offset) / step) * step + offset; t <= end; t += step) times.push(t);
    return { times, format: step < 60000 ? clockSecondsFormat : clockFormat };
  }

  function chartMarkup(sensor, plot, field) {
    const { points, bottom, plotRight, width } = plot;
    const gradId = `${sensor.domId}-stroke`;
    const fillId = `${sensor.domId}-fill`;
    const parts = [];

    parts.push('<defs>', strokeGradient(gradId, field, plot), fillGradient(fillId, field, plot), '</defs>');

    // A grid line and a label per step; the bottom line is the time axis.
    plot.levels.forEach((level, i) => {
      const y = plot.y(level.v).toFixed(1);
      const edge = i === 0 ? ' grid-base' : '';
      parts.push(`<line class="grid${edge}" x1="0" x2="${plotRight}" y1="${y}" y2="${y}"/>`);
      parts.push(
        `<text class="axis-label" x="${width}" y="${y}" dy="0.35em" text-anchor="end">${level.label}</text>`,
      );
    });

    // Time ticks below the plot.
    const ticks = timeTicks(plot.start, plot.end, plotRight);
    for (const t of ticks.times) {
      const x = plot.x(t);
      // Half a label's width from either end, so none is cut off.
      if (x < 30 || x > plotRight - 12) continue;
      parts.push(`<line class="tick" x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${bottom}" y2="${bottom + 4}"/>`);
      parts.push(`<text class="axis-label time" x="${x.toFixed(1)}" y="${CHART_HEIGHT - 4}" text-anchor="middle">${ticks.format.format(t)}</text>`);
    }

    const line = linePath(points, plot.gapMs);
    parts.push(`<path class="area" d="${areaPath(points, plot.gapMs, bottom)}" fill="url(#${fillId})"/>`);
    parts.push(`<path class="line" d="${line}" stroke="url(#${gradId})"/>`);

    const last = points[points.length - 1];
    const lastX = Math.min(last.x, plotRight).toFixed(1);
    const lastY = last.y.toFixed(1);
    const color = seriesColor(field, last.v);
    parts.push(`<circle class="last-halo" cx="${lastX}" cy="${lastY}" r="6" style="fill:${color}"/>`);
    parts.push(`<circle class="last" cx="${lastX}" cy="${lastY}" r="3.2" style="fill:${color}"/>`);
    return parts.join('');
  }

  // Splits the points into runs without gaps.
  function runs(points, gapMs) {
    const out = [];
    let run = [];
    for (const p of points) {
      if (run.length && p.t - run[run.length - 1].t > gapMs) {
        out.push(run);
        run = [];
      }
      run.push(p);
    }
    if (run.length) out.push(run);
    return out;
  }

  function linePath(points, gapMs) {
    return runs(points, gapMs)
      .map((run) => {
        // A lone point still shows, as a short flat stroke.
        const pts = run.length === 1 ? [run[0], { x: run[0].x + 1, y: run[0].y }] : run;
        return pts.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join('');
      })
      .join('');
  }

  function areaPath(points, gapMs, bottom) {
    return runs(points, gapMs)
      .filter((run) => run.length > 1)
      .map((run) => {
        const first = run[0];
        const last = run[run.length - 1];
        const top = run.map((p) => `L${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join('');
        return `M${first.x.toFixed(1)} ${bottom}${top}L${last.x.toFixed(1)} ${bottom}Z`;
      })
      .join('');
  }

  // The colour of a quantity's line at a value (CO₂: its band's colour).
  function seriesColor(field, value) {
    if (field === 'co2') return `var(--line-${co2Band(value).tone})`;
    return `var(--q-${field.replace('_', '-')})`;
  }

  // CO₂ is drawn in its band colours (green, amber, red by height); other
  // quantities in their own colour.
  function strokeGradient(id, field, plot) {
    const attrs = `id="${id}" gradientUnits="userSpaceOnUse" x1="0" x2="0" y1="${plot.bottom}" y2="${plot.top}"`;
    if (field !== 'co2') {
      const color = seriesColor(field);
      return `<linearGradient ${attrs}><stop offset="0" style="stop-color:${color}"/><stop offset="1" style="stop-color:${color}"/></linearGradient>`;
    }
    const { lo, hi } = plot.scale;
    const at = (v) => Math.max(0, Math.min(1, (v - lo) / (hi - lo))).toFixed(4);
    const stop = (offset, tone) => `<stop offset="${offset}" style="stop-color:var(--line-${tone})"/>`;
    return (
      `<linearGradient ${attrs}>` +
      stop(0, 'good') +
      stop(at(CO2_GOOD_BELOW), 'good') +
      stop(at(CO2_GOOD_BELOW), 'moderate') +
      stop(at(CO2_MODERATE_BELOW), 'moderate') +
      stop(at(CO2_MODERATE_BELOW), 'poor') +
      stop(1, 'poor') +
      '</linearGradient>'
    );
  }

  function fillGradient(id, field, plot) {
    const color = field === 'co2' ? 'var(--line-good)' : seriesColor(field);
    const attrs = `id="${id}" gradientUnits="userSpaceOnUse" x1="0" x2="0" y1="${plot.top}" y2="${plot.bottom}"`;
    return (
      `<linearGradient ${attrs}>` +
      `<stop offset="0" style="stop-color:${color};stop-opacity:.22"/>` +
      `<stop offset="1" style="stop-color:${color};stop-opacity:0"/>` +
      '</linearGradient>'
    );
  }

  // Hover and touch: a cursor line, a dot and the value under the pointer.
  function bindChartPointer(sensor, chart) {
    const move = (event) => {
      const box = chart.getBoundingClientRect();
      sensor.hoverX = event.clientX - box.left;
      showCursorAt(sensor, sensor.hoverX);
    };
    chart.addEventListener('pointermove', move);
    chart.addEventListener('pointerdown', move);
    chart.addEventListener('pointerleave', () => {
      sensor.hoverX = undefined;
      hideCursor(sensor.ui);
    });
  }

  function showCursorAt(sensor, x) {
    const { ui, plot } = sensor;
    if (!plot || !plot.points.length) return hideCursor(ui);
    const point = nearest(plot.points, x);
    const quantity = QUANTITIES[sensor.quantity];
    const px = Math.min(point.x, plot.plotRight);
    ui.cursor.style.transform = `translateX(${px.toFixed(1)}px)`;
    ui.cursor.style.height = `${plot.bottom}px`;
    ui.dot.style.transform = `translate(${px.toFixed(1)}px, ${point.y.toFixed(1)}px)`;
    ui.dot.style.background = seriesColor(sensor.quantity, point.v);
    const time = plot.end - plot.start < 2 * 3600 * 1000 ? clockSecondsFormat : clockFormat;
    ui.tip.replaceChildren(
      el('strong', { text: `${formatNumber(point.v, quantity.digits)} ${quantity.unit}` }),
      el('span', { text: time.format(point.t) }),
    );
    ui.cursor.hidden = false;
    ui.dot.hidden = false;
    ui.tip.hidden = false;
    // Keep the tip inside the chart: flip it to the left in the right half.
    const tipWidth = ui.tip.offsetWidth;
    const left = px > plot.width / 2 ? px - tipWidth - 10 : px + 10;
    ui.tip.style.transform = `translateX(${Math.max(0, left).toFixed(0)}px)`;
    return undefined;
  }

  function hideCursor(ui) {
    ui.cursor.hidden = true;
    ui.dot.hidden = true;
    ui.tip.hidden = true;
  }

  function nearest(points, x) {
    let lo = 0;
    let hi = points.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (points[mid].x < x) lo = mid;
      else hi = mid;
    }
    return Math.abs(points[lo].x - x) <= Math.abs(points[hi].x - x) ? points[lo] : points[hi];
  }

  // ------------------------------------------------------------ clock

  // Once a second: ages, stale markers, the reconnect countdown; every 30 s
  // the charts slide on, so points older than 24 h leave them.
  let ticks = 0;
  function tick() {
    ticks += 1;
    for (const sensor of app.sensors.values()) {
      if (sensor.ui) updateAge(sensor);
      if (ticks % 30 === 0) dirty.add(sensor);
    }
    if (conn.state === 'waiting') renderConnState();
    scheduleRender(null);
  }

  // ------------------------------------------------------------ start

  function bindDom() {
    for (const id of [
      'summary',
      'connection',
      'connection-text',
      'connection-announce',
      'last-update',
      'banner',
      'auth',
      'auth-title',
      'auth-message',
      'auth-form',
      'auth-key',
      'grid',
      'empty',
      'forget-wrap',
      'forget-key',
    ]) {
      dom[id.replace(/-(\w)/g, (_, c) => c.toUpperCase())] = document.getElementById(id);
    }
    dom.authForm.addEventListener('submit', submitKey);
    dom.forgetKey.addEventListener('click', forgetKey);
    dom.connection.addEventListener('click', reconnectNow);
    window.addEventListener('online', reconnectNow);
  }

  function start() {
    bindDom();
    app.key = storageGet(KEY_STORAGE);
    adoptTokenFromUrl();
    dom.forgetWrap.hidden = !app.key;
    renderConnState();
    // The socket opens once the REST API answered, so a missing key shows the
    // key form instead of a socket retrying in vain.
    refreshDevices();
    window.setInterval(tick, 1000);
  }

  start();
})();
