// The large screen: draws the map once, then writes the figures and charts, and fetches them again every refresh_s seconds.
(function () {
  "use strict";
  var URL = "/api/v1/quality/screen";
  var LAYERS_URL = "/api/v1/quality/screen/layers";
  var classLayers = {};
  var MAX_SECTION_ROWS = 8;
  var charts = {};

  // An empty figure is null: put() shows it as the workbench's grey placeholder, never a lone "—" (it reads as 一).
  function pct(x) { return x === null || x === undefined ? null : (Math.round(x * 1000) / 10) + "%"; }
  function source(f, kind) { var s = (f.sources || {})[kind]; return s ? pct(s.rate) : null; }
  function sourceGood(f, kind) { var s = (f.sources || {})[kind]; return s ? s.meets_target : null; }

  // Each figure: its text, and whether it is good (green), bad (red) or neither (null).
  var FIGURES = {
    "as_of": function (f) { return [f.as_of.slice(0, 16).replace("T", " "), null]; },
    "sections.assessed": function (f) { var s = f.sections.summary; return [s.assessed_good + "/" + s.assessed_sections, null]; },
    "sections.all_good": function (f) {
      var s = f.sections.summary;
      if (!s.assessed_sections) return [null, null];
      return [s.assessed_all_good ? "已实现" : "未实现", s.assessed_all_good];
    },
    "sections.compliant": function (f) { var s = f.sections.summary; return [s.compliant + "/" + s.classed, null]; },
    "sections.period": function (f) { return [f.sections.period || "无监测数据", null]; },
    "sources.urban": function (f) { return [source(f, "urban"), sourceGood(f, "urban")]; },
    "sources.township": function (f) { return [source(f, "township"), sourceGood(f, "township")]; },
    "zones.flags": function (f) {
      var c = f.zone_checks, red = c.by_severity.red || 0;
      return [c.count + (red ? "（红" + red + "）" : ""), c.count ? false : true];
    },
    "ratios.ratio": function (f) { var r = f.ratios; return [pct(r.ratio), r.ratio === null ? null : r.ratio >= r.threshold]; },
    "ratios.compliant": function (f) { return [f.ratios.compliant + "/" + f.ratios.rivers, null]; },
    "ledger.new": function (f) { return [String(f.ledger.new), null]; },
    "ledger.closed": function (f) { return [String(f.ledger.closed), null]; },
    "ledger.overdue": function (f) { return [String(f.ledger.overdue), null]; },
    "ledger.open": function (f) { return [String(f.ledger.open), null]; },
    "ledger.month": function (f) { return [f.ledger.month, null]; },
    "tasks.done": function (f) { return [f.tasks.done + "/" + f.tasks.total, null]; },
    "tasks.overdue": function (f) { return [String(f.tasks.overdue), null]; },
    "tasks.year": function (f) { return [String(f.tasks.year), null]; },
    "tasks.mean_progress": function (f) { var m = f.tasks.mean_progress; return [m === null ? null : m + "%", null]; },
    "patrols.overdue": function (f) { return [String(f.patrols.total.overdue), null]; },
    "patrols.patrols": function (f) { return [String(f.patrols.total.patrols), null]; },
  };

  function writeFigures(f) {
    document.querySelectorAll("[data-fig]").forEach(function (el) {
      var make = FIGURES[el.getAttribute("data-fig")];
      if (!make) return;
      var out = make(f);
      put(el, out[0], "暂无");
      if (out[1] !== null) { el.classList.toggle("sc-good", out[1] === true); el.classList.toggle("sc-bad", out[1] === false); }
    });
  }

  // Text only, never markup; an empty value (null or "") as the grey 暂无/无 of the workbench's blank filter.
  function put(el, text, word) {
    el.textContent = "";
    if (text !== null && text !== undefined && text !== "") { el.textContent = text; return; }
    var span = document.createElement("span");
    span.className = "blank";
    span.title = "无数据";
    span.textContent = word;
    el.appendChild(span);
  }

  function cell(row, text) { var td = document.createElement("td"); put(td, text, "无"); row.appendChild(td); return td; }

  function writeSections(f) {
    // Assessed (国控、市控) sections first; text only, never markup.
    var rank = { "国控": 0, "市控": 1 };
    var rows = f.sections.rows.slice().sort(function (a, b) { return (rank[a.level] ?? 2) - (rank[b.level] ?? 2); });
    var body = document.getElementById("sc-sections");
    body.textContent = "";
    rows.slice(0, MAX_SECTION_ROWS).forEach(function (r) {
      var tr = document.createElement("tr");
      cell(tr, r.name).title = r.code;
      cell(tr, r.level);
      var badge = document.createElement("span");
      badge.className = "sc-class";
      badge.style.background = r.color;
      badge.textContent = r.class_label;
      tr.appendChild(document.createElement("td")).appendChild(badge);
      cell(tr, r.target);
      var ok = cell(tr, r.compliant === null ? null : r.compliant ? "达标" : "未达标");
      ok.className = r.compliant === true ? "sc-good" : r.compliant === false ? "sc-bad" : "";
      body.appendChild(tr);
    });
    var more = rows.length - MAX_SECTION_ROWS;
    document.getElementById("sc-sections-more").textContent = more > 0 ? "另有 " + more + " 个断面，见水质断面评价页" : "";
  }

  var AXIS = { axisLabel: { color: "#a9c1de", fontSize: 13 }, axisLine: { lineStyle: { color: "#1f4673" } },
    splitLine: { lineStyle: { color: "#1f4673" } } };

  function bars(id, labels, series, max) {
    var el = document.getElementById(id);
    if (!window.echarts || !el) return;
    var chart = charts[id] || (charts[id] = window.echarts.init(el, null, { renderer: "canvas" }));
    chart.setOption({
      animation: false,
      textStyle: { color: "#e6eef8" },
      legend: { show: series.length > 1, top: 0, textStyle: { color: "#a9c1de", fontSize: 13 } },
      grid: { left: 8, right: 40, top: series.length > 1 ? 28 : 8, bottom: 4, containLabel: true },
      xAxis: Object.assign({ type: "value", max: max, minInterval: 1 }, AXIS),
      yAxis: Object.assign({ type: "category", data: labels, inverse: true }, AXIS),
      tooltip: { trigger: "axis" },
      series: series.map(function (s) {
        return { name: s.name, type: "bar", data: s.data, itemStyle: { color: s.color },
          label: { show: true, position: "right", color: "#e6eef8",
            formatter: function (p) { return p.value ? p.value + (s.unit || "") : ""; } } };
      }),
    }, true);
  }

  function drawCharts(f) {
    var towns = f.ledger.by_town;
    bars("sc-chart-ledger", towns.map(function (r) { return r.town; }), [
      { name: "新增", data: towns.map(function (r) { return r.new; }), color: "#3b8ff3" },
      { name: "销号", data: towns.map(function (r) { return r.closed; }), color: "#46d17a" },
      { name: "超期", data: towns.map(function (r) { return r.overdue; }), color: "#ff6b6b" },
    ]);
    // One unit a chart: the coverage in %, the overdue reaches named with the town.
    var p = f.patrols.by_town;
    bars("sc-chart-patrols", p.map(function (r) { return r.town + (r.overdue ? "（超期" + r.overdue + "段）" : ""); }), [
      { name: "平均覆盖率", unit: "%", color: "#46d17a",
        data: p.map(function (r) { return r.mean_coverage === null ? 0 : Math.round(r.mean_coverage * 1000) / 10; }) },
    ], 100);
    var classes = Object.keys(f.sections.by_class);
    var colours = {};
    f.sections.rows.forEach(function (r) { colours[r.class_label] = r.color; });
    var el = document.getElementById("sc-chart-classes");
    if (!window.echarts || !el) return;
    var chart = charts.classes || (charts.classes = window.echarts.init(el, null, { renderer: "canvas" }));
    chart.setOption({
      animation: false,
      grid: { left: 8, right: 8, top: 24, bottom: 4, containLabel: true },
      xAxis: Object.assign({ type: "category", data: classes }, AXIS),
      yAxis: Object.assign({ type: "value", minInterval: 1 }, AXIS),
      series: [{ type: "bar", data: classes.map(function (c) {
        return { value: f.sections.by_class[c], itemStyle: { color: colours[c] || "#5b7da8" } };
      }), label: { show: true, position: "top", color: "#e6eef8", formatter: "{c}个" } }],
    }, true);
  }

  function show(f) {
    writeFigures(f);
    writeSections(f);
    drawCharts(f);
    document.body.setAttribute("data-as-of", f.as_of);
    document.body.setAttribute("data-refreshed", String(Number(document.body.getAttribute("data-refreshed") || 0) + 1));
  }

  function writeLegend(items) {
    var box = document.getElementById("sc-legend");
    box.textContent = "";
    if (!items.length) { box.textContent = "暂无断面监测数据"; return; }
    items.forEach(function (i) {
      var line = document.createElement("div");
      var swatch = document.createElement("span");
      swatch.className = "sc-swatch";
      swatch.style.background = i.color;
      line.appendChild(swatch);
      line.appendChild(document.createTextNode(i.label + "（" + i.count + "）"));
      line.setAttribute("data-class", i.label);
      line.setAttribute("data-count", String(i.count));
      box.appendChild(line);
    });
  }

  function writeClassLayers(layers) {
    ["reaches", "sections"].forEach(function (key) {
      if (!classLayers[key]) return;
      classLayers[key].clearLayers();
      classLayers[key].addData(layers[key]);
    });
    writeLegend(layers.legend);
  }

  function drawMap() {
    var layers = JSON.parse(document.getElementById("sc-layers").textContent);
    if (!window.L) return;
    var map = window.L.map("sc-map", { zoomControl: false, attributionControl: false, zoomSnap: 0.25 });
    var bounds = window.L.latLngBounds([]);
    ["towns", "source_zones", "rivers", "reaches", "sections"].forEach(function (key) {
      var layer = window.L.geoJSON(layers[key], {
        style: function (f) { return f.properties._s; },
        pointToLayer: function (f, ll) { return window.L.circleMarker(ll, f.properties._s); },
        // "_p" is popup HTML the service built with every value escaped.
        onEachFeature: function (f, l) { if (f.properties._p) l.bindPopup(f.properties._p, { maxWidth: 360 }); },
      }).addTo(map);
      if (key === "reaches" || key === "sections") classLayers[key] = layer;
      else if (key !== "source_zones" && layers[key].features.length) bounds.extend(layer.getBounds());
    });
    writeLegend(layers.legend);
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [16, 16] }); else map.setView([29.0, 106.9], 10);
    document.body.setAttribute("data-map-ready", "1");
  }

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (r.status === 401 || r.status === 403) throw new Error("需要重新登录（查看者及以上）");
      if (!r.ok) throw new Error("服务返回 " + r.status);
      return r.json();
    });
  }

  function refresh(every) {
    Promise.all([getJson(URL), getJson(LAYERS_URL)])
      .then(function (both) {
        writeClassLayers(both[1]);
        show(both[0]);
        document.getElementById("sc-status").textContent = "";
      })
      .catch(function (e) {
        document.getElementById("sc-status").textContent = "刷新失败：" + e.message + "，显示的是上次数据";
      })
      .finally(function () { window.setTimeout(function () { refresh(every); }, every); });
  }

  var first = JSON.parse(document.getElementById("sc-figures").textContent);
  drawMap();
  show(first);
  window.addEventListener("resize", function () { Object.keys(charts).forEach(function (k) { charts[k].resize(); }); });
  window.setTimeout(function () { refresh(first.refresh_s * 1000); }, first.refresh_s * 1000);
})();
