// The browser side of the student demo page (web_page.ts writes it into index.html).
// Plain ES2020 in a string: the project compiles without the DOM's types, and the page must
// work from a folder with no build step. It reads #demo-data, loads every model with
// onnxruntime-web (wasm backend, one thread: no cross-origin isolation is needed), and
// shows each model's softmax(logits / T) as bars. The temperature slider re-softens the
// stored logits without running the models again.
//
// Test hooks: body[data-state] is 'loading' → 'ready' (or 'error'); window.distillDemo holds
// { T, input, logits: {role: number[]}, probs: {role: number[]}, selected, latency };
// body[data-shown] names the last input shown ('sample-3#7', 'drawing#8'); each bar has
// data-prob (full precision) and each card data-top (the arg-max class).
export const WEB_SCRIPT = String.raw`
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('demo-data').textContent);
  var C = data.classNames.length;
  var shape = data.inputShape;
  var perSample = shape.reduce(function (a, b) { return a * b; }, 1);
  var isImage = shape.length === 3 && shape[0] === 1;
  var H = isImage ? shape[1] : 0, W = isImage ? shape[2] : 0;
  var state = { T: 1, logits: {}, probs: {}, selected: null, latency: {}, sessions: {} };
  window.distillDemo = state;
  var $ = function (id) { return document.getElementById(id); };
  var status = function (msg) { $('status').textContent = msg; };

  function decodeSamples() {
    var bin = atob(data.samples.pixels);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }
  var pixels = decodeSamples();
  var sampleAt = function (i) { return pixels.slice(i * perSample, (i + 1) * perSample); };

  function softmax(z, T) {
    var m = -Infinity, out = new Array(z.length), s = 0;
    for (var i = 0; i < z.length; i++) m = Math.max(m, z[i] / T);
    for (var j = 0; j < z.length; j++) { out[j] = Math.exp(z[j] / T - m); s += out[j]; }
    for (var k = 0; k < z.length; k++) out[k] /= s;
    return out;
  }
  var esc = function (t) { return String(t).replace(/[&<>"']/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; }); };
  var fmtBytes = function (b) { return b >= 1048576 ? (b / 1048576).toFixed(2) + ' MB' : (b / 1024).toFixed(1) + ' kB'; };

  // ── model cards ──
  function buildCards() {
    var host = $('models');
    data.models.forEach(function (m) {
      var card = document.createElement('section');
      card.className = 'model';
      card.dataset.role = m.role;
      var html = '<h2>' + esc(m.label) + '</h2><div class="meta"><span class="arch">' + esc(m.arch) + '</span> · ' +
        '<span class="size" title="bytes fetched">…</span> · <span class="lat">…</span></div>' +
        '<div class="top">—</div><div class="bars">';
      for (var c = 0; c < C; c++)
        html += '<div class="row"><span class="cls">' + esc(data.classNames[c]) + '</span><span class="track"><span class="bar" data-class="' + c +
          '" data-prob="0"></span></span><span class="val" data-class="' + c + '">0.000</span></div>';
      card.innerHTML = html + '</div>';
      host.appendChild(card);
    });
  }

  function render() {
    $('t-value').textContent = state.T.toFixed(1);
    data.models.forEach(function (m) {
      var z = state.logits[m.role];
      if (!z) return;
      var p = softmax(z, state.T);
      state.probs[m.role] = p;
      var card = document.querySelector('.model[data-role="' + m.role + '"]');
      var top = 0;
      for (var c = 0; c < C; c++) if (p[c] > p[top]) top = c;
      card.dataset.top = String(top);
      card.querySelector('.top').textContent = 'prediction: ' + data.classNames[top] + ' (' + (100 * p[top]).toFixed(1) + '%)';
      card.querySelectorAll('.bar').forEach(function (bar) {
        var k = Number(bar.dataset.class);
        bar.style.width = (100 * p[k]).toFixed(2) + '%';
        bar.dataset.prob = String(p[k]);
        bar.classList.toggle('best', k === top);
      });
      card.querySelectorAll('.val').forEach(function (v) { v.textContent = p[Number(v.dataset.class)].toFixed(3); });
      var lat = state.latency[m.role];
      if (lat) card.querySelector('.lat').textContent = 'latency ' + lat.last.toFixed(1) + ' ms (mean ' + lat.mean.toFixed(3) + ' ms over 20 runs)';
    });
  }

  var runs = 0;
  async function infer(x) {
    state.input = Array.from(x);
    for (var i = 0; i < data.models.length; i++) {
      var m = data.models[i];
      var t0 = performance.now();
      var out = await state.sessions[m.role].run({ input: new ort.Tensor('float32', x, [1].concat(shape)) });
      var dt = performance.now() - t0;
      state.logits[m.role] = Array.from(out.logits.data);
      if (state.latency[m.role]) state.latency[m.role].last = dt;
    }
    render();
    // 'sample-3#7': what is shown and a counter, so a test can wait for this very run.
    document.body.dataset.shown = (state.selected === null ? 'drawing' : 'sample-' + state.selected) + '#' + (++runs);
  }

  // ── the input preview (what the models see) ──
  function showInput(x) {
    if (!isImage) return;
    var cv = $('preview'), ctx = cv.getContext('2d'), img = ctx.createImageData(W, H);
    for (var i = 0; i < W * H; i++) {
      var v = Math.max(0, Math.min(255, Math.round(x[i] * 255)));
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v; img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  var clearPad = function () {};
  function select(i) {
    clearPad();
    state.selected = i;
    document.querySelectorAll('.sample').forEach(function (s) { s.classList.toggle('selected', Number(s.dataset.sample) === i); });
    var x = sampleAt(i);
    showInput(x);
    $('source').textContent = 'test image #' + data.samples.index[i] + ' (label ' + data.classNames[data.samples.labels[i]] + ')';
    return infer(x);
  }
  state.select = select;

  function buildSamples() {
    var host = $('samples');
    data.samples.labels.forEach(function (label, i) {
      var b = document.createElement('button');
      b.className = 'sample';
      b.dataset.sample = String(i);
      b.title = 'test image #' + data.samples.index[i] + ', label ' + data.classNames[label];
      if (isImage) {
        var cv = document.createElement('canvas');
        cv.width = W; cv.height = H;
        b.appendChild(cv);
        var ctx = cv.getContext('2d'), img = ctx.createImageData(W, H), x = sampleAt(i);
        for (var k = 0; k < W * H; k++) {
          var v = Math.round(x[k] * 255);
          img.data[4 * k] = img.data[4 * k + 1] = img.data[4 * k + 2] = v; img.data[4 * k + 3] = 255;
        }
        ctx.putImageData(img, 0, 0);
      }
      var cap = document.createElement('span');
      cap.textContent = data.classNames[label];
      b.appendChild(cap);
      b.addEventListener('click', function () { select(i); });
      host.appendChild(b);
    });
  }

  // ── drawing: ink → bounding box scaled into 20×20 → centred by mass in 28×28 (MNIST's recipe) ──
  function setupPad() {
    if (!isImage) { $('pad-box').hidden = true; return; }
    var pad = $('pad'), ctx = pad.getContext('2d'), drawing = false, last = null, pending = false;
    var clear = function () { ctx.fillStyle = '#000'; ctx.fillRect(0, 0, pad.width, pad.height); };
    clear();
    clearPad = clear;
    var pos = function (e) { var r = pad.getBoundingClientRect(); return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height]; };
    function downsample() {
      var src = ctx.getImageData(0, 0, pad.width, pad.height).data, x0 = pad.width, y0 = pad.height, x1 = -1, y1 = -1;
      for (var y = 0; y < pad.height; y++) for (var x = 0; x < pad.width; x++) if (src[4 * (y * pad.width + x)] > 20) {
        if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
      }
      var out = new Float32Array(perSample);
      if (x1 < 0) return out;
      var bw = x1 - x0 + 1, bh = y1 - y0 + 1, box = Math.round(Math.min(W, H) * 20 / 28), s = box / Math.max(bw, bh);
      var tmp = document.createElement('canvas'); tmp.width = W; tmp.height = H;
      var t = tmp.getContext('2d');
      t.imageSmoothingEnabled = true; t.imageSmoothingQuality = 'high';
      var dw = bw * s, dh = bh * s;
      t.fillStyle = '#000'; t.fillRect(0, 0, W, H);
      t.drawImage(pad, x0, y0, bw, bh, (W - dw) / 2, (H - dh) / 2, dw, dh);
      var g = t.getImageData(0, 0, W, H).data, m = 0, cx = 0, cy = 0;
      for (var i = 0; i < W * H; i++) { var v = g[4 * i] / 255; m += v; cx += v * (i % W); cy += v * Math.floor(i / W); }
      var sx = m ? Math.round((W - 1) / 2 - cx / m) : 0, sy = m ? Math.round((H - 1) / 2 - cy / m) : 0;
      for (var yy = 0; yy < H; yy++) for (var xx = 0; xx < W; xx++) {
        var fx = xx - sx, fy = yy - sy;
        out[yy * W + xx] = fx >= 0 && fx < W && fy >= 0 && fy < H ? g[4 * (fy * W + fx)] / 255 : 0;
      }
      return out;
    }
    function update() {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () {
        pending = false;
        var x = downsample();
        state.selected = null;
        document.querySelectorAll('.sample').forEach(function (s) { s.classList.remove('selected'); });
        $('source').textContent = 'your drawing';
        showInput(x);
        infer(x);
      });
    }
    pad.addEventListener('pointerdown', function (e) { drawing = true; last = pos(e); pad.setPointerCapture(e.pointerId); });
    pad.addEventListener('pointermove', function (e) {
      if (!drawing) return;
      var p = pos(e);
      ctx.strokeStyle = '#fff'; ctx.lineWidth = pad.width / 10; ctx.lineCap = 'round'; ctx.lineJoin = 'round';
      ctx.beginPath(); ctx.moveTo(last[0], last[1]); ctx.lineTo(p[0], p[1]); ctx.stroke();
      last = p;
      update();
    });
    var stop = function () { if (drawing) { drawing = false; update(); } };
    pad.addEventListener('pointerup', stop);
    pad.addEventListener('pointercancel', stop);
    $('clear').addEventListener('click', function () { clear(); update(); });
  }

  async function main() {
    document.body.dataset.state = 'loading';
    buildCards();
    buildSamples();
    setupPad();
    $('temperature').addEventListener('input', function (e) { state.T = Number(e.target.value); render(); });
    state.T = Number($('temperature').value);
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmPaths = new URL('./', location.href).href;
    for (var i = 0; i < data.models.length; i++) {
      var m = data.models[i];
      status('loading ' + m.file + ' …');
      var res = await fetch(m.file);
      if (!res.ok) throw new Error(m.file + ': HTTP ' + res.status);
      var bytes = new Uint8Array(await res.arrayBuffer());
      document.querySelector('.model[data-role="' + m.role + '"] .size').textContent = m.file + ' ' + fmtBytes(bytes.byteLength);
      state.sessions[m.role] = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    }
    // Latency at batch 1 on the first test image: 3 warm-up runs, then 20 timed together
    // (the browser coarsens performance.now() to 0.1 ms, finer than one run of a small MLP).
    var x0 = data.samples.labels.length ? sampleAt(0) : new Float32Array(perSample);
    for (var j = 0; j < data.models.length; j++) {
      var r = data.models[j].role, feed = { input: new ort.Tensor('float32', x0, [1].concat(shape)) };
      for (var k = 0; k < 3; k++) await state.sessions[r].run(feed);
      var t0 = performance.now();
      for (var k2 = 0; k2 < 20; k2++) await state.sessions[r].run(feed);
      var mean = (performance.now() - t0) / 20;
      state.latency[r] = { mean: mean, last: mean };
    }
    if (data.samples.labels.length) await select(0);
    status('ready: ' + data.models.length + ' models on onnxruntime-web ' + (ort.env.versions ? ort.env.versions.web : '') + ' (wasm, 1 thread)');
    document.body.dataset.state = 'ready';
  }
  main().catch(function (e) {
    document.body.dataset.state = 'error';
    status('error: ' + (e && e.message ? e.message : String(e)));
    console.error(e);
  });
})();
`;
