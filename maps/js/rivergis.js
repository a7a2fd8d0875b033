/* RiverGIS map scripts: problem sites from compact columns, clustered with Leaflet.markercluster;
 * overlay layers; the filter form (kept in the URL); legend counts.
 * Safety: text from data reaches the page only through textContent, or as popup HTML the service
 * has already escaped (overlay "_p"); nothing from a record is ever parsed as HTML here. */
(function () {
  "use strict";
  var RG = (window.RiverGIS = window.RiverGIS || {});

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (ch) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch];
    });
  }

  function setStatus(text) {
    var box = document.getElementById("rg-status");
    if (box) box.textContent = text;
  }

  /* Decode the compact columns: fixed-width base-64 offsets, status*categories+category, id runs. */
  function decode(d) {
    var n = d.n, ids = new Array(n), lat = new Float64Array(n), lng = new Float64Array(n);
    var s = new Uint8Array(n), c = new Uint8Array(n), digit = {}, ncat = d.category.length, i, k;
    for (i = 0; i < d.alphabet.length; i++) digit[d.alphabet.charCodeAt(i)] = i;
    function at(str, w, j) {
      var v = 0;
      for (var q = j * w, end = q + w; q < end; q++) v = v * 64 + digit[str.charCodeAt(q)];
      return v;
    }
    var j = 0;
    d.ids.forEach(function (run) { for (k = 0; k < run[1]; k++) ids[j++] = run[0] + k; });
    for (i = 0; i < n; i++) {
      lng[i] = (d.x0 + at(d.x, d.wx, i)) / d.scale;
      lat[i] = (d.y0 + at(d.y, d.wy, i)) / d.scale;
      var sc = at(d.sc, d.wsc, i);
      s[i] = Math.floor(sc / ncat);
      c[i] = sc % ncat;
    }
    return { n: n, ids: ids, lat: lat, lng: lng, s: s, c: c, status: d.status, category: d.category,
             cols: d.cols || null };
  }

  function byCode(list) {
    var out = {};
    (list || []).forEach(function (v) { out[v.code] = v; });
    return out;
  }

  /* The issue map's problem sites. cfg: dataUrl | data, detailUrl, recordUrl, statuses, categories,
   * sources, labels, finished, today, filter, fit. */
  RG.problems = function (map, group, cfg) {
    var statusInfo = byCode(cfg.statuses), categoryInfo = byCode(cfg.categories), sourceInfo = byCode(cfg.sources);
    var icons = {}, current = null, shown = 0, drawing = false, firstLoad = true, seq = 0;
    var cluster = L.markerClusterGroup({
      chunkedLoading: true, chunkInterval: 200, chunkDelay: 5, showCoverageOnHover: false,
      maxClusterRadius: 60, spiderfyOnMaxZoom: true, disableClusteringAtZoom: 18,
      chunkProgress: function (done, total) {
        // also called when the empty group joins the map: only a draw in progress counts
        if (!drawing) return;
        if (done >= total) ready();
        else setStatus("正在绘制 " + done + " / " + total + " …");
      }
    });
    group.addLayer(cluster);
    var popup = L.popup({ maxWidth: 360, minWidth: 240 });

    function ready() {
      drawing = false;
      setStatus("共 " + shown + " 个问题点");
      document.body.setAttribute("data-rg-sites", String(shown));
      document.body.setAttribute("data-rg-ready", "1");
    }

    function icon(si, ci, vocab) {
      var key = si + ":" + ci;
      vocab = vocab || current;
      if (!icons[key]) {
        var st = statusInfo[vocab.status[si]] || { color: "#777777" };
        var cat = categoryInfo[vocab.category[ci]] || { glyph: "?" };
        icons[key] = L.divIcon({
          className: "rg-site-icon",
          html: '<span class="rg-site" style="background:' + escapeHtml(st.color) + '">' +
            escapeHtml(cat.glyph || "") + "</span>",
          iconSize: [22, 22], iconAnchor: [11, 11], popupAnchor: [0, -10]
        });
      }
      return icons[key];
    }

    function label(info, code) { return info[code] ? info[code].label : code; }

    function popupNode(rec) {
      var L_ = cfg.labels, box = el("div", "rg-popup");
      box.appendChild(el("div", "rg-popup-title", rec.code));
      var status = label(statusInfo, rec.status) + (rec.overdue ? "（已超期）" : "");
      var river = rec.river_name ? rec.river_name + "（" + (rec.river_code || "") + "）" : rec.river_code;
      var rows = [
        [L_.category, label(categoryInfo, rec.category)], [L_.status, status], [L_.river_code, river],
        [L_.town, rec.town], [L_.found_date, rec.found_date], [L_.deadline, rec.deadline],
        [L_.responsible_unit, rec.responsible_unit], [L_.closed_date, rec.closed_date],
        [L_.source, rec.source ? label(sourceInfo, rec.source) : ""], [L_.description, rec.description]
      ];
      var table = el("table");
      rows.forEach(function (r) {
        if (r[1] === null || r[1] === undefined || r[1] === "") return;
        var tr = el("tr");
        tr.appendChild(el("th", null, r[0]));
        tr.appendChild(el("td", null, r[1]));
        table.appendChild(tr);
      });
      box.appendChild(table);
      if (cfg.recordUrl) {
        var a = el("a", "rg-record-link", "查看记录");
        a.href = cfg.recordUrl.replace("{id}", encodeURIComponent(String(rec.id)));
        a.target = "_blank";
        a.rel = "noopener";
        box.appendChild(a);
      }
      return box;
    }

    function isOverdue(deadline, status) {
      return !!deadline && deadline < cfg.today && cfg.finished.indexOf(status) < 0;
    }

    function recordAt(i) {
      var rec = { id: current.ids[i], status: current.status[current.s[i]], category: current.category[current.c[i]] };
      Object.keys(current.cols).forEach(function (k) { rec[k] = current.cols[k][i]; });
      rec.river_name = (cfg.riverNames || {})[rec.river_code] || null;
      rec.overdue = isOverdue(rec.deadline, rec.status);
      return rec;
    }

    function open(marker) {
      var i = marker.options.rgIndex, data = current;
      popup.setLatLng(marker.getLatLng());
      if (data && data.cols) {
        popup.setContent(popupNode(recordAt(i))).openOn(map);
        return;
      }
      var id = marker.options.rgId !== undefined ? marker.options.rgId : data.ids[i];
      popup.setContent(el("div", "rg-popup", "加载中…")).openOn(map);
      fetch(cfg.detailUrl.replace("{id}", String(id)), { headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (rec) { popup.setContent(popupNode(rec)); })
        .catch(function (e) { popup.setContent(el("div", "rg-popup", "无法加载记录：" + e.message)); });
    }
    cluster.on("click", function (e) { open(e.layer); });

    /* Client-side filter, used when the data is embedded (standalone page). */
    function keep(i, f) {
      var st = current.status[current.s[i]], cat = current.category[current.c[i]], cols = current.cols;
      if (f.status && f.status.length && f.status.indexOf(st) < 0) return false;
      if (f.category && f.category.length && f.category.indexOf(cat) < 0) return false;
      if (!cols) return true;
      if (f.town && cols.town[i] !== f.town) return false;
      if (f.river && cols.river_code[i] !== f.river) return false;
      if (f.from && !(cols.found_date[i] && cols.found_date[i] >= f.from)) return false;
      if (f.to && !(cols.found_date[i] && cols.found_date[i] <= f.to)) return false;
      if (f.overdue && !isOverdue(cols.deadline[i], st)) return false;
      return true;
    }

    function draw(filter) {
      clusters.clear();
      cluster.clearLayers();
      map.closePopup();
      document.body.removeAttribute("data-rg-ready");
      var markers = [], counts = {}, n = current.n;
      var minLat = 90, maxLat = -90, minLng = 180, maxLng = -180;
      for (var i = 0; i < n; i++) {
        if (current.cols && !keep(i, filter)) continue;
        var lat = current.lat[i], lng = current.lng[i];
        markers.push(L.marker([lat, lng], { icon: icon(current.s[i], current.c[i]), rgIndex: i, keyboard: false }));
        var sk = "status:" + current.status[current.s[i]], ck = "category:" + current.category[current.c[i]];
        counts[sk] = (counts[sk] || 0) + 1;
        counts[ck] = (counts[ck] || 0) + 1;
        if (lat < minLat) minLat = lat;
        if (lat > maxLat) maxLat = lat;
        if (lng < minLng) minLng = lng;
        if (lng > maxLng) maxLng = lng;
      }
      shown = markers.length;
      document.querySelectorAll("[data-count]").forEach(function (node) {
        node.textContent = String(counts[node.getAttribute("data-count")] || 0);
      });
      var total = document.getElementById("rg-total");
      if (total) total.textContent = String(shown);
      if (cfg.fit && firstLoad && shown) {
        map.fitBounds([[minLat, minLng], [maxLat, maxLng]], { padding: [20, 20], maxZoom: 15 });
      }
      firstLoad = false;
      drawing = true;
      if (shown) cluster.addLayers(markers);
      else ready();
    }

    function load(filter) {
      var mine = ++seq;
      setStatus("加载中…");
      if (mode === "clusters") {
        clusters.show(filter);
        return;
      }
      if (cfg.data) {
        current = current || decode(cfg.data);
        draw(filter);
        return;
      }
      if (firstLoad && cfg.clustersUrl) clusters.preview(filter);
      var url = cfg.dataUrl + (cfg.dataUrl.indexOf("?") < 0 ? "?" : "&") + RG.queryString(filter);
      // The page's first data request began with the page itself (<link rel="preload">): take that one.
      if (cfg.firstUrl && filter === cfg.filter) url = cfg.firstUrl;
      fetch(url, { headers: { Accept: "application/json" } })
        .then(function (r) {
          if (!r.ok) return r.json().then(function (b) { throw new Error(b.error ? b.error.message : "HTTP " + r.status); });
          return r.json();
        })
        .then(function (d) {
          if (mine !== seq) return;
          // Past the service's threshold it sends no site: the map switches to server-side clusters.
          if (d.mode === "clusters") { mode = "clusters"; clusters.show(filter); return; }
          current = decode(d);
          draw(filter);
        })
        .catch(function (e) { setStatus("加载失败：" + e.message); });
    }

    /* Server-side clusters: one marker a grid cell of the view, counted by the service. */
    var mode = cfg.mode || "sites";
    var clusters = RG.serverClusters(map, group, cfg, {
      icon: icon, open: open, setStatus: setStatus,
      before: function () {
        current = null;
        cluster.clearLayers();
        map.closePopup();
        document.body.removeAttribute("data-rg-ready");
      },
      ready: function (total) { shown = total; ready(); }
    });

    RG.bindFilter(map, cfg.filter, load);
    load(cfg.filter);
    RG.mode = function () { return mode; };
    // Handles for scripts and tests that drive the page (the cluster and the decoded data).
    RG.cluster = cluster;
    RG.current = function () { return current; };
    return cluster;
  };

  /* The issue map past its threshold: clusters the service counted for the view and zoom shown, fetched
   * again after each pan or zoom (the newest answer wins); a one-site cell is drawn as the site itself. */
  RG.serverClusters = function (map, group, cfg, page) {
    var layer = L.layerGroup(), filter = null, seq = 0, timer = null, bound = false, seen = {}, seenKeys = [],
      needCounts = false, inflight = null;

    function sizeClass(n) { return n < 100 ? "small" : n < 1000 ? "medium" : "large"; }

    function clusterIcon(n) {
      var text = n >= 10000 ? Math.round(n / 1000) + "k" : String(n);
      return L.divIcon({
        className: "marker-cluster marker-cluster-" + sizeClass(n) + " rg-server-cluster",
        html: "<div><span>" + text + "</span></div>", iconSize: [40, 40]
      });
    }

    function cells(d) {
      layer.clearLayers();
      var ncat = d.category.length;
      for (var k = 0; k < d.x.length; k++) {
        var ll = [d.y[k], d.x[k]], m;
        if (d.count[k] === 1 && d.id[k] !== null && d.sc[k] !== null) {
          m = L.marker(ll, { icon: page.icon(Math.floor(d.sc[k] / ncat), d.sc[k] % ncat, d), rgId: d.id[k],
                             keyboard: false });
          m.on("click", function (e) { page.open(e.target); });
        } else {
          m = L.marker(ll, { icon: clusterIcon(d.count[k]), rgCount: d.count[k], keyboard: false });
          m.on("click", function (e) {
            map.setView(e.target.getLatLng(), Math.min(map.getZoom() + 2, map.getMaxZoom()));
          });
        }
        layer.addLayer(m);
      }
    }

    function draw(d, counted) {
      cells(d);
      document.body.setAttribute("data-rg-cells", String(d.x.length));
      document.body.setAttribute("data-rg-zoom", String(d.zoom));
      document.body.setAttribute("data-rg-view-sites", String(d.n));
      if (counted) {
        document.querySelectorAll("[data-count]").forEach(function (node) {
          node.textContent = String(d.counts[node.getAttribute("data-count")] || 0);
        });
        var total = document.getElementById("rg-total");
        if (total) total.textContent = String(d.total);
        filter.total = d.total;
      }
      if (needCounts) return;  // drawn, but the filter's total is still on its way
      page.ready(filter.total);
      page.setStatus("共 " + filter.total + " 个问题点（服务端聚合）");
    }

    /* The view's box, grown to whole blocks of 8 x 8 cells (the service's cells are 90 / 2^zoom degrees,
     * anchored at 0°): panning inside what was fetched, or back to a zoom seen, asks nothing again. */
    function blockBox(zoom) {
      var b = map.getBounds(), size = 8 * 90 / Math.pow(2, zoom);
      return [Math.floor(b.getWest() / size) * size, Math.floor(b.getSouth() / size) * size,
              Math.ceil(b.getEast() / size) * size, Math.ceil(b.getNorth() / size) * size]
        .map(function (v) { return +v.toFixed(9); });
    }

    function fetchView() {
      // The legend counts are asked until an answer carrying them is drawn (a pan may overtake the first).
      var mine = ++seq, zoom = map.getZoom(), counted = needCounts;
      var qs = RG.queryString(filter);
      var url = cfg.clustersUrl + (cfg.clustersUrl.indexOf("?") < 0 ? "?" : "&") + "zoom=" + zoom +
        "&bbox=" + blockBox(zoom).join(",") + (qs ? "&" + qs : "");
      document.body.removeAttribute("data-rg-ready");
      // A view left before its answer came: that answer is no longer wanted (the clusters shown stay).
      if (inflight) inflight.abort();
      inflight = null;
      if (!counted && seen[url]) { draw(seen[url], false); return; }
      var ctl = window.AbortController ? new AbortController() : null;
      inflight = ctl;
      fetch(url + (counted ? "&counts=1" : ""),
            { headers: { Accept: "application/json" }, signal: ctl ? ctl.signal : undefined })
        .then(function (r) {
          if (!r.ok) return r.json().then(function (b) { throw new Error(b.error ? b.error.message : "HTTP " + r.status); });
          return r.json();
        })
        .then(function (d) {
          if (inflight === ctl) inflight = null;
          if (seenKeys.length >= 64) delete seen[seenKeys.shift()];
          if (!seen[url]) seenKeys.push(url);
          seen[url] = d;
          if (mine !== seq) return;
          // The map moved without a moveend reaching us (a fit while the page settles): ask for this zoom.
          if (d.zoom !== map.getZoom()) { fetchView(); return; }
          if (counted) needCounts = false;
          draw(d, counted);
        })
        .catch(function (e) {
          if (e.name !== "AbortError" && mine === seq) page.setStatus("加载失败：" + e.message);
        });
    }

    return {
      /* A first look while every site loads (below the threshold): the service's clusters of the view. */
      preview: function (f) {
        var mine = ++seq, qs = RG.queryString(f), zoom = map.getZoom();
        if (!group.hasLayer(layer)) group.addLayer(layer);
        var url = cfg.clustersUrl + (cfg.clustersUrl.indexOf("?") < 0 ? "?" : "&") + "zoom=" + zoom +
          "&bbox=" + blockBox(zoom).join(",") + (qs ? "&" + qs : "");
        fetch(url, { headers: { Accept: "application/json" } })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (d) { if (d && mine === seq) cells(d); })
          .catch(function () { /* only a preview: the sites follow */ });
      },
      clear: function () { ++seq; layer.clearLayers(); },
      show: function (f) {
        page.before();
        document.body.setAttribute("data-rg-mode", "clusters");
        filter = { status: f.status, category: f.category, town: f.town, river: f.river, from: f.from, to: f.to,
                   overdue: f.overdue, total: 0 };
        seen = {};  // a new filter, or the same one asked again: answers as the ledger is now
        seenKeys = [];
        needCounts = true;
        if (!bound) {
          bound = true;
          group.addLayer(layer);
          map.on("moveend", function () {
            window.clearTimeout(timer);
            timer = window.setTimeout(fetchView, 80);  // a gesture's last move; a stale answer is aborted anyway
          });
        }
        fetchView();
      }
    };
  };

  /* Filter <-> URL parameters (the same names the service accepts). */
  RG.queryString = function (f) {
    var p = new URLSearchParams();
    if (f.status && f.status.length) p.set("status", f.status.join(","));
    if (f.category && f.category.length) p.set("category", f.category.join(","));
    ["town", "river", "from", "to"].forEach(function (k) { if (f[k]) p.set(k, f[k]); });
    if (f.overdue) p.set("overdue", "1");
    return p.toString();
  };

  RG.bindFilter = function (map, initial, onChange) {
    var form = document.getElementById("rg-filter");
    if (!form) return;
    L.DomEvent.disableClickPropagation(form);
    L.DomEvent.disableScrollPropagation(form);
    function read() {
      var checked = function (name) {
        return Array.prototype.map.call(form.querySelectorAll('input[name="' + name + '"]:checked'),
          function (i) { return i.value; });
      };
      return {
        status: checked("status"), category: checked("category"),
        town: form.elements.town.value, river: form.elements.river.value,
        from: form.elements.from.value, to: form.elements.to.value, overdue: form.elements.overdue.checked
      };
    }
    function apply(f) {
      var params = new URLSearchParams(RG.queryString(f)), keepers = new URLSearchParams(window.location.search);
      if (keepers.get("basemap")) params.set("basemap", keepers.get("basemap"));
      if (window.location.protocol !== "file:") {
        var qs = params.toString();
        window.history.replaceState(null, "", window.location.pathname + (qs ? "?" + qs : ""));
      }
      onChange(f);
    }
    form.addEventListener("submit", function (e) { e.preventDefault(); apply(read()); });
    form.addEventListener("reset", function () {
      window.setTimeout(function () {
        form.querySelectorAll("input[type=checkbox]").forEach(function (i) { i.checked = false; });
        apply(read());
      }, 0);
    });
    var toggle = document.getElementById("rg-filter-toggle");
    if (toggle) toggle.addEventListener("click", function () { form.classList.toggle("rg-collapsed"); });
  };

  /* Overlay layers: embedded GeoJSON, or loaded from the service for the current view. */
  RG.overlays = function (map, specs) {
    specs.forEach(function (o) {
      var seq = 0, timer = null;
      function add(fc) {
        var layer = L.geoJSON(fc, {
          style: function (f) { return f.properties._s; },
          pointToLayer: function (f, ll) { return L.circleMarker(ll, f.properties._s); },
          onEachFeature: function (f, l) {
            // "_p" is popup HTML the service built with every value escaped.
            if (f.properties._p) l.bindPopup(f.properties._p, { maxWidth: 360 });
          }
        });
        o.group.clearLayers();
        o.group.addLayer(layer);
        if (o.fit && fc.features.length) map.fitBounds(layer.getBounds(), { padding: [20, 20] });
      }
      if (o.data) { add(o.data); return; }
      function fetchView() {
        if (!map.hasLayer(o.group)) return;
        var b = map.getBounds().pad(0.1), mine = ++seq;
        var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(5); });
        fetch(o.url + (o.url.indexOf("?") < 0 ? "?" : "&") + "bbox=" + bbox.join(","))
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (fc) { if (fc && mine === seq) add(fc); });
      }
      function later() { window.clearTimeout(timer); timer = window.setTimeout(fetchView, 250); }
      map.on("moveend", later);
      o.group.on("add", later);
      later();
    });
  };

  // Whether the page is on a phone: a narrow window, or a screen whose shorter side is a phone's (360-430 px, held
  // either way). The screen, not the window's height: a desktop page's short map frame is no phone. Its legend
  // starts folded, its list of layers too (webmap.base.add_layer_control).
  RG.onPhone = function () {
    var narrow = !!(window.matchMedia && window.matchMedia("(max-width: 600px)").matches);
    var s = window.screen;
    return narrow || !!(s && Math.min(s.width, s.height) <= 500);
  };
  // The answer as the page root's class, for the style sheet: a panel beside the open list of layers stops short of
  // it, one beside the folded button has more room (rivergis.css, .rg-ratio). Set as the page loads, as the list is.
  document.documentElement.classList.toggle("rg-phone", RG.onPhone());

  // On a phone the legend starts folded, its title left as a tap target: open, it covers half the map.
  function foldLegends() {
    if (!RG.onPhone()) return;
    var panels = document.querySelectorAll("details.rg-legend");
    for (var i = 0; i < panels.length; i++) panels[i].open = false;
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", foldLegends);
  else foldLegends();
})();
