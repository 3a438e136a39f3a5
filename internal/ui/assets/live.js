// chaosctl dashboard: the live run page. Draws one chart per probe from the
// run's server-sent events (samples, faults, recovery), shows the phase and
// its countdown, the SLOs, the fault events and the verdict. No library.
(function () {
  'use strict';
  var root = document.getElementById('live');
  if (!root) { return; }
  var NS = 'http://www.w3.org/2000/svg';
  var W = 960, H = 240, PL = 64, PR = 16, PT = 22, PB = 34, PW = W - PL - PR, PH = H - PT - PB;
  var started = Date.parse(root.dataset.started);
  var st, es, errors = 0, skew = 0, dirty = false;

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function t(s) { return s ? Date.parse(s) : null; }
  function fmt(ms) { return ms >= 1000 ? (ms / 1000).toFixed(1) + 's' : ms < 10 && ms % 1 ? ms.toFixed(1) + 'ms' : Math.round(ms) + 'ms'; }

  function reset() {
    st = { probes: {}, order: [], faults: {}, first: null, last: started, recoveredAt: null, deadline: null, samples: 0 };
    $('charts').textContent = '';
    $('faults').textContent = '';
  }

  function chart(name) {
    var p = st.probes[name];
    if (p) { return p; }
    var box = document.createElement('div');
    box.className = 'chart';
    var h = document.createElement('h3');
    h.textContent = 'probe ' + name;
    var svg = el('svg', { 'class': 'live-chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'data-probe': name });
    box.appendChild(h);
    box.appendChild(svg);
    $('charts').appendChild(box);
    p = st.probes[name] = { svg: svg, samples: [] };
    st.order.push(name);
    return p;
  }

  function draw() {
    dirty = false;
    var t0 = started, t1 = Math.max(st.last, t0 + 1000);
    var x = function (ms) { return PL + PW * (ms - t0) / (t1 - t0); };
    st.order.forEach(function (name) {
      var p = st.probes[name], svg = p.svg, maxLat = 1;
      p.samples.forEach(function (s) { if (s.ok && s.lat > maxLat) { maxLat = s.lat; } });
      var yMax = maxLat * 1.15;
      var y = function (l) { return PT + PH - PH * Math.min(l / yMax, 1); };
      svg.textContent = '';
      svg.appendChild(el('rect', { 'class': 'plot', x: PL, y: PT, width: PW, height: PH }));
      Object.keys(st.faults).forEach(function (id) {
        var f = st.faults[id];
        if (!f.from) { return; }
        var x0 = x(f.from), x1 = x(f.to || f.from);
        var r = el('rect', { 'class': 'fault', x: x0, y: PT, width: Math.max(x1 - x0, 4), height: PH });
        r.appendChild(el('title', {}, 'fault ' + f.name));
        svg.appendChild(r);
        svg.appendChild(el('text', { 'class': 'label fault-label', x: x0 + 4, y: PT + 22 }, f.name));
      });
      for (var i = 1; i <= 4; i++) {
        var v = yMax * i / 4;
        svg.appendChild(el('line', { 'class': 'grid', x1: PL, y1: y(v), x2: PL + PW, y2: y(v) }));
        svg.appendChild(el('text', { 'class': 'axis', x: PL - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmt(v)));
      }
      var step = [100, 250, 500, 1000, 2000, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000].find(function (s) { return (t1 - t0) / s <= 12; }) || (t1 - t0) / 10;
      for (var tt = 0; tt <= t1 - t0; tt += step) {
        svg.appendChild(el('line', { 'class': 'tick', x1: x(t0 + tt), y1: PT + PH, x2: x(t0 + tt), y2: PT + PH + 4 }));
        svg.appendChild(el('text', { 'class': 'axis', x: x(t0 + tt), y: PT + PH + 17, 'text-anchor': 'middle' }, '+' + fmt(tt)));
      }
      var pts = [];
      var flush = function () {
        if (pts.length > 1) { svg.appendChild(el('polyline', { 'class': 'latency', points: pts.join(' ') })); }
        pts = [];
      };
      p.samples.forEach(function (s) {
        if (!s.ok) { flush(); return; }
        pts.push(x(s.t).toFixed(1) + ',' + y(s.lat).toFixed(1));
      });
      flush();
      p.samples.forEach(function (s) {
        if (s.ok) {
          svg.appendChild(el('circle', { 'class': 'ok', cx: x(s.t).toFixed(1), cy: y(s.lat).toFixed(1), r: 1.8 }));
        } else {
          var m = el('path', { 'class': 'fail', d: 'M' + (x(s.t) - 2.5).toFixed(1) + ' ' + (PT + 3) + 'l5 5m0 -5l-5 5' });
          m.appendChild(el('title', {}, 'failed: ' + (s.err || '')));
          svg.appendChild(m);
        }
      });
      if (st.recoveredAt) {
        var rx = x(st.recoveredAt);
        svg.appendChild(el('line', { 'class': 'recovered', x1: rx, y1: PT, x2: rx, y2: PT + PH }));
        svg.appendChild(el('text', { 'class': 'label recovered-label', x: rx + 4, y: PT + 36 }, 'recovered'));
      }
      svg.setAttribute('data-points', String(p.samples.length));
    });
    root.dataset.samples = String(st.samples);
    root.dataset.faults = String(Object.keys(st.faults).length);
  }

  function onFault(f) {
    var from = t(f.injected_at), to = t(f.reverted_at);
    st.faults[f.id] = { name: f.name || f.id, from: from, to: to };
    if (from && (!st.first || from < st.first)) { st.first = from; }
    var what = f.inject_error ? 'inject failed: ' + f.inject_error :
      f.revert_error ? 'REVERT FAILED: ' + f.revert_error :
      to ? 'reverted' : from ? 'injected' : 'about to inject';
    var target = f.target ? (f.target.kind + ':' + (f.target.name || f.target.id)) : '';
    var li = document.createElement('li');
    var at = to || from || t(f.intent_at) || st.last;
    li.textContent = '+' + fmt(at - started) + '  ' + (f.name || f.id) + '  ' + target + '  ' + what;
    $('faults').appendChild(li);
  }

  function onSLOs(slos) {
    var body = $('slos').tBodies[0];
    body.textContent = '';
    slos.forEach(function (s) {
      var tr = body.insertRow();
      tr.insertCell().textContent = s.name;
      var c = tr.insertCell();
      c.textContent = s.held ? 'held' : 'not held';
      c.className = s.held ? 'slo-held' : 'slo-broken';
      tr.insertCell().textContent = s.availability_pct.toFixed(2) + '%';
      tr.insertCell().textContent = fmt(s.p99_ns / 1e6);
      tr.insertCell().textContent = String(s.samples);
    });
  }

  function onRecovery(r) {
    var text = r.state;
    if ((r.state === 'confirming' || r.state === 'recovered') && st.first) {
      st.recoveredAt = st.first + r.at_ns / 1e6;
      text += ' at +' + fmt(r.at_ns / 1e6);
      if (r.state === 'confirming') { text += ', confirming ' + fmt(r.elapsed_ns / 1e6) + '/' + fmt(r.need_ns / 1e6); }
    }
    if (r.state === 'relapsed') { text += ' at +' + fmt(r.relapsed_ns / 1e6) + ' (' + r.slo + ')'; }
    if (r.state === 'recovering' && r.pending) { text += ': ' + r.pending.join(', ') + ' not holding'; }
    $('recovery').textContent = text;
  }

  // The header's entry for this run, kept current from the stream: its
  // phase, and gone once the run has its verdict.
  function headerRun(phase) {
    var links = document.querySelectorAll('a.active-run');
    for (var i = 0; i < links.length; i++) {
      var a = links[i];
      if (a.dataset.run !== root.dataset.run) { continue; }
      if (phase === null) { a.remove(); } else { a.textContent = '\u25cf ' + a.dataset.scenario + ' (' + phase + ')'; }
    }
  }

  function onVerdict(ev) {
    headerRun(null);
    var v = $('verdict');
    v.textContent = ev.verdict;
    v.className = 'verdict v-' + ev.verdict;
    var ul = $('reasons');
    ul.textContent = '';
    (ev.reasons || []).forEach(function (r) { var li = document.createElement('li'); li.textContent = r; ul.appendChild(li); });
    var form = $('abort-form');
    if (form) { form.remove(); }
    $('countdown').textContent = '';
    $('phase').textContent = 'verdict';
    root.dataset.verdict = ev.verdict;
    if (es) { es.close(); }
    // The journal has the exact recovery instant and fault windows.
    fetch(root.dataset.events.replace(/events$/, 'journal.json'), { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) {
        if (!j) { return; }
        (j.faults || []).forEach(function (f) {
          if (st.faults[f.id]) { st.faults[f.id].from = t(f.injected_at); st.faults[f.id].to = t(f.reverted_at); }
        });
        if (j.recovery && j.recovery.recovered_at) { st.recoveredAt = t(j.recovery.recovered_at); }
        if (j.ended_at) { st.last = Math.max(st.last, t(j.ended_at)); }
        draw();
      });
  }

  function on(kind, fn) {
    es.addEventListener(kind, function (m) {
      var ev = JSON.parse(m.data);
      var at = t(ev.time);
      if (at) { st.last = Math.max(st.last, at); skew = at - Date.now(); }
      fn(ev);
      dirty = true;
    });
  }

  function connect() {
    es = new EventSource(root.dataset.events);
    es.onopen = function () { errors = 0; reset(); };
    es.onerror = function () { if (++errors > 5) { es.close(); } };
    on('phase', function (ev) {
      $('phase').textContent = ev.phase;
      headerRun(ev.phase);
      st.deadline = t(ev.deadline);
    });
    on('sample', function (ev) {
      var s = ev.sample, p = chart(s.probe);
      var at = t(s.time);
      // An unmeasured sample (Prometheus unreachable) is no evidence either
      // way: a gap in the chart, not a failure, as in the report.
      if (s.unmeasured) { return; }
      p.samples.push({ t: at, ok: s.ok, lat: s.latency_ns / 1e6, err: s.error });
      st.samples++;
      st.last = Math.max(st.last, at + s.latency_ns / 1e6);
    });
    on('fault', function (ev) { onFault(ev.fault); });
    on('slo', function (ev) { onSLOs(ev.slos || []); });
    on('recovery', function (ev) { onRecovery(ev.recovery); });
    on('message', function () {});
    on('verdict', onVerdict);
  }

  reset();
  connect();
  setInterval(function () {
    if (st.deadline && !root.dataset.verdict) {
      var left = st.deadline - (Date.now() + skew);
      $('countdown').textContent = left > 0 ? 'ends within ' + fmt(left) : '';
    }
    if (dirty) { draw(); }
  }, 250);
}());
