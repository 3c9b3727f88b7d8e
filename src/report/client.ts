// The page's own script: draws the uPlot charts from the embedded chart data. It is plain
// ES5-style JavaScript in a string because it runs in the browser (the project compiles
// without DOM types); it reads only #report-data and the inlined uPlot global.
//
// Grouped bars: uPlot draws one bar per x value and series; its bars path builder's `disp`
// option places each series' bar at its own offset (x0) and width (size) in x units, so
// the T = 1…20 bars of a class stand side by side around the class's index.
export const CLIENT_SCRIPT = String.raw`(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('report-data').textContent);
  var charts = {};
  window.distillCharts = charts; // for tests and for poking at the charts from the console
  var widthOf = function (el) { return Math.max(320, Math.min(el.clientWidth || 720, 1000)); };
  var pct = function (v) { return v == null ? '—' : (v * 100).toFixed(2) + '%'; };
  var num = function (d) { return function (u, v) { return v == null ? '—' : v.toFixed(d); }; };

  function temperature(t, el) {
    var n = t.series.length, group = 0.8, bar = group / n;
    var xs = t.classes.map(function (_, i) { return i; });
    var series = [{ label: 'class', value: function (u, v) { return v == null ? '—' : t.classes[v]; } }];
    t.series.forEach(function (s, k) {
      series.push({
        label: 'T=' + s.T + ' (H=' + s.entropy.toFixed(2) + ')',
        stroke: s.color, fill: s.color, width: 1, points: { show: false }, value: num(4),
        paths: uPlot.paths.bars({ disp: {
          x0: { unit: 1, values: function () { return xs.map(function (x) { return x - group / 2 + k * bar; }); } },
          size: { unit: 1, values: function () { return [bar * 0.9]; } }
        } })
      });
    });
    var data = [xs].concat(t.series.map(function (s) { return s.probs; }));
    return new uPlot({
      title: 'Teacher probabilities at T = ' + t.series.map(function (s) { return s.T; }).join(', ') + ' (true class: ' + t.label + ')',
      width: widthOf(el), height: 320,
      scales: { x: { time: false, range: function () { return [-0.55, xs.length - 0.45]; } }, y: { range: function () { return [0, 1]; } } },
      axes: [
        { label: 'class', splits: function () { return xs; }, values: function (u, sp) { return sp.map(function (i) { return t.classes[i]; }); }, grid: { show: false } },
        { label: 'probability', values: function (u, sp) { return sp.map(function (v) { return v.toFixed(1); }); } }
      ],
      series: series
    }, data, el);
  }

  // Steps and epochs are whole numbers: ticks only at integer spacings.
  var INT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000];

  function lines(c, el, title, xLabel, yLabel, yFmt, axisFmt) {
    var series = [{ label: xLabel }].concat(c.series.map(function (s) {
      return { label: s.name, stroke: s.color, width: 2, dash: s.dash ? [6, 4] : undefined, spanGaps: true,
        points: { show: !s.dash && c.x.length <= 40 }, value: function (u, v) { return v == null ? '—' : yFmt(v); } };
    }));
    return new uPlot({
      title: title, width: widthOf(el), height: 300,
      scales: { x: { time: false } },
      axes: [{ label: xLabel, incrs: INT_INCRS }, { label: yLabel, size: 60, values: function (u, sp) { return sp.map(axisFmt || yFmt); } }],
      series: series
    }, [c.x].concat(c.series.map(function (s) { return s.values; })), el);
  }

  var el;
  if (D.temperature && (el = document.getElementById('chart-temperature'))) charts.temperature = temperature(D.temperature, el);
  if (D.loss && (el = document.getElementById('chart-loss')))
    charts.loss = lines(D.loss, el, 'Distilled student: total loss and its parts', 'step', 'loss', function (v) { return +v.toPrecision(3) + ''; });
  if (D.accuracy && (el = document.getElementById('chart-accuracy')))
    charts.accuracy = lines(D.accuracy, el, 'Validation accuracy', 'epoch', 'accuracy', pct, function (v) { return (v * 100).toFixed(1) + '%'; });

  window.addEventListener('resize', function () {
    Object.keys(charts).forEach(function (k) {
      var u = charts[k];
      u.setSize({ width: widthOf(u.root.parentNode), height: u.height });
    });
  });
})();`;
