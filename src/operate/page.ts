/**
 * The live page (`GET /` on the --metrics server): one HTML document, its
 * script inline, its charts drawn by uPlot served from this package's own
 * dependencies (`/assets/uplot.js`, `/assets/uplot.css`): no CDN and no build
 * step. It polls `/stats.json` once a second (src/operate/sampler.ts) and
 * only reads.
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>zqueue</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/uplot.css">
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2230; background: #f6f7f9; }
  body { margin: 0 auto; padding: 16px 24px; max-width: 1280px; }
  header { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
  h1 { font-size: 20px; margin: 0; }
  h2 { font-size: 15px; margin: 0 0 6px; font-weight: 600; }
  .muted { color: #667085; font-size: 13px; }
  #state { padding: 2px 10px; border-radius: 10px; font-weight: 600; font-size: 13px; background: #d0d5dd; }
  #state[data-state="running"] { background: #c6f1d6; color: #05603a; }
  #state[data-state="paused"] { background: #fef0c7; color: #93370d; }
  #state[data-state="draining"], #state[data-state="closed"] { background: #fee4e2; color: #912018; }
  .tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px; margin: 12px 0; }
  .tile { background: #fff; border-radius: 8px; padding: 8px 12px; box-shadow: 0 1px 2px #0000001a; }
  .tile b { display: block; font-size: 22px; font-variant-numeric: tabular-nums; }
  .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(580px, 1fr)); gap: 12px; }
  .panel { background: #fff; border-radius: 8px; padding: 10px 12px; box-shadow: 0 1px 2px #0000001a; min-width: 0; }
  table { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eaecf0; }
  th { color: #667085; font-weight: 500; }
  .bar { display: inline-block; height: 8px; background: #2e90fa; border-radius: 4px; vertical-align: middle; }
  #error { color: #b42318; font-size: 13px; }
</style>
</head>
<body>
<header>
  <h1>zqueue</h1>
  <span id="state" data-state="">…</span>
  <span class="muted" id="about"></span>
  <span id="error" role="status"></span>
</header>
<div class="tiles">
  <div class="tile"><span class="muted">requests / s</span><b id="rate-requests">–</b></div>
  <div class="tile"><span class="muted">replies / s</span><b id="rate-replies">–</b></div>
  <div class="tile"><span class="muted">queued</span><b id="queued">–</b></div>
  <div class="tile"><span class="muted">oldest wait</span><b id="oldest">–</b></div>
  <div class="tile"><span class="muted">p99</span><b id="p99">–</b></div>
  <div class="tile"><span class="muted">shed / s</span><b id="shed">–</b></div>
  <div class="tile"><span class="muted">clients · servers</span><b id="peers">–</b></div>
</div>
<div class="charts">
  <div class="panel"><h2>Requests in, replies out (a second)</h2><div id="chart-rates" class="chart"></div></div>
  <div class="panel"><h2>Latency at the device (ms)</h2><div id="chart-latency" class="chart"></div></div>
  <div class="panel"><h2>Queue: depth, and the oldest request's wait (ms)</h2><div id="chart-queue" class="chart"></div></div>
  <div class="panel"><h2>Shed (a second), by why</h2><div id="chart-shed" class="chart"></div></div>
  <div class="panel"><h2>Connected clients and servers, requests in flight</h2><div id="chart-peers" class="chart"></div></div>
  <div class="panel"><h2>Workers</h2>
    <table id="workers"><thead><tr>
      <th>worker</th><th>protocol</th><th>service</th><th>state</th><th>in flight / credits</th><th>served</th>
    </tr></thead><tbody></tbody></table>
    <h2 id="threads-title" style="margin-top:12px" hidden>Worker threads</h2>
    <table id="threads" hidden><thead><tr>
      <th>slot</th><th>state</th><th>generation</th><th>restarts</th><th>thread id</th>
    </tr></thead><tbody></tbody></table>
  </div>
</div>
<script src="/assets/uplot.js"></script>
<script>
(() => {
  const WINDOW_S = 300;
  const shedReasons = ['abandoned', 'expired', 'replaced', 'policy', 'cancelled'];
  const colors = ['#2e90fa', '#12b76a', '#f04438', '#f79009', '#7a5af8', '#667085'];
  const charts = {};
  const data = {};
  for (const k of ['t', 'requests', 'replies', 'failed', 'p50', 'p99', 'queued', 'oldest', 'inFlight', 'clients', 'servers']) data[k] = [];
  for (const r of shedReasons) data['shed_' + r] = [];
  let since = 0;

  const short = (n) => (n >= 1e6 ? +(n / 1e6).toFixed(1) + 'M' : n >= 1e3 ? +(n / 1e3).toFixed(1) + 'k' : String(+n.toFixed(2)));
  const axis = (a) => Object.assign({ size: 56, values: (u, splits) => splits.map(short) }, a);
  function chart(id, series, axes) {
    const el = document.getElementById(id);
    const opts = {
      width: Math.max(300, el.clientWidth),
      height: 200,
      legend: { live: false },
      scales: { x: { time: true } },
      series: [{}].concat(series.map((s, i) => ({ label: s.label, stroke: colors[i % colors.length], width: 1.5, scale: s.scale || 'y' }))),
      axes: [{}].concat((axes || [{ scale: 'y' }]).map(axis)),
    };
    charts[id] = { plot: new uPlot(opts, [[]].concat(series.map(() => [])), el), keys: series.map((s) => s.key), el };
  }
  chart('chart-rates', [{ label: 'requests', key: 'requests' }, { label: 'replies', key: 'replies' }, { label: 'errors', key: 'failed' }]);
  chart('chart-latency', [{ label: 'p50', key: 'p50' }, { label: 'p99', key: 'p99' }]);
  chart('chart-queue', [{ label: 'queued', key: 'queued' }, { label: 'oldest wait (ms)', key: 'oldest', scale: 'ms' }],
    [{ scale: 'y' }, { scale: 'ms', side: 1, grid: { show: false } }]);
  chart('chart-shed', shedReasons.map((r) => ({ label: r, key: 'shed_' + r })));
  chart('chart-peers', [
    { label: 'clients', key: 'clients' }, { label: 'servers', key: 'servers' }, { label: 'in flight', key: 'inFlight' },
  ]);
  window.addEventListener('resize', () => {
    for (const c of Object.values(charts)) c.plot.setSize({ width: Math.max(300, c.el.clientWidth), height: 200 });
  });

  const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString('en') : n >= 10 ? n.toFixed(1) : n.toFixed(2));
  const ms = (v) => (v >= 1000 ? (v / 1000).toFixed(2) + ' s' : fmt(v) + ' ms');
  const text = (id, v) => { document.getElementById(id).textContent = v; };
  const cell = (tr, v) => { const td = document.createElement('td'); td.textContent = String(v); tr.appendChild(td); return td; };

  function push(s) {
    data.t.push(s.t / 1000);
    data.requests.push(s.requests); data.replies.push(s.replies); data.failed.push(s.failed);
    data.p50.push(s.p50Ms); data.p99.push(s.p99Ms);
    data.queued.push(s.queued); data.oldest.push(s.oldestWaitMs); data.inFlight.push(s.inFlight);
    data.clients.push(s.clients); data.servers.push(s.servers);
    for (const r of shedReasons) data['shed_' + r].push(s.shed[r] || 0);
    if (data.t.length > WINDOW_S) for (const k of Object.keys(data)) data[k].shift();
  }

  function render(v) {
    const st = document.getElementById('state');
    st.textContent = v.state;
    st.dataset.state = v.state;
    const up = Math.round(v.uptimeMs / 1000);
    text('about', v.engine + ' engine, ' + v.policy + ' · ' + v.frontend + ' → ' + v.backend + ' · up ' + up + ' s');
    for (const s of v.samples) push(s);
    if (v.samples.length > 0) since = v.samples[v.samples.length - 1].t;
    for (const c of Object.values(charts)) c.plot.setData([data.t].concat(c.keys.map((k) => data[k])));
    document.body.dataset.samples = String(data.t.length);
    const last = v.samples.length > 0 ? v.samples[v.samples.length - 1] : null;
    if (last !== null) {
      text('rate-requests', fmt(last.requests));
      text('rate-replies', fmt(last.replies));
      text('queued', String(last.queued));
      text('oldest', ms(last.oldestWaitMs));
      text('p99', ms(last.p99Ms));
      text('shed', fmt(shedReasons.reduce((n, r) => n + (last.shed[r] || 0), 0)));
      text('peers', last.clients + ' · ' + last.servers);
    }
    const body = document.querySelector('#workers tbody');
    body.replaceChildren();
    for (const w of v.workers) {
      const tr = document.createElement('tr');
      cell(tr, w.id); cell(tr, w.protocol || 'zqueue'); cell(tr, w.service || '–'); cell(tr, w.state);
      const load = cell(tr, w.inFlight + ' / ' + w.credits + ' ');
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = Math.round(60 * Math.min(1, w.credits > 0 ? w.inFlight / w.credits : 0)) + 'px';
      load.appendChild(bar);
      cell(tr, w.served.toLocaleString('en'));
      body.appendChild(tr);
    }
    const threads = v.threads || [];
    document.getElementById('threads').hidden = threads.length === 0;
    document.getElementById('threads-title').hidden = threads.length === 0;
    const tbody = document.querySelector('#threads tbody');
    tbody.replaceChildren();
    for (const t of threads) {
      const tr = document.createElement('tr');
      cell(tr, t.slot); cell(tr, t.state); cell(tr, t.generation); cell(tr, t.restarts);
      cell(tr, t.tid === undefined || t.tid === null ? '–' : t.tid);
      tbody.appendChild(tr);
    }
  }

  async function poll() {
    try {
      const res = await fetch('/stats.json?since=' + since, { cache: 'no-store' });
      if (!res.ok) throw new Error('/stats.json answered ' + res.status);
      render(await res.json());
      text('error', '');
    } catch (err) {
      text('error', 'no answer from the device: ' + (err && err.message ? err.message : String(err)));
    } finally {
      setTimeout(poll, 1000);
    }
  }
  poll();
})();
</script>
</body>
</html>
`;
