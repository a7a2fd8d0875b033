/* The report form's map: a click (or tap) puts the marker there and fills 经度 / 纬度; typing moves the marker.
   The rivers are drawn from the service's own map data when it answers; there is no outside base map. */
(function () {
  "use strict";
  var box = document.getElementById("rg-pick-map");
  if (!box || !window.L) { return; }
  var b = box.getAttribute("data-bbox").split(",").map(Number);
  var lon = document.getElementById("lon"), lat = document.getElementById("lat");
  var map = L.map(box, { attributionControl: false });
  map.fitBounds([[b[1], b[0]], [b[3], b[2]]]);
  L.rectangle([[b[1], b[0]], [b[3], b[2]]], { color: "#999", weight: 1, fill: false, interactive: false }).addTo(map);
  var marker = null;
  function place(latlng) {
    if (marker) { marker.setLatLng(latlng); } else {
      marker = L.circleMarker(latlng, { radius: 8, color: "#d63939", weight: 3, fillOpacity: 0.6 }).addTo(map);
    }
  }
  map.on("click", function (e) {
    lon.value = e.latlng.lng.toFixed(6);
    lat.value = e.latlng.lat.toFixed(6);
    place(e.latlng);
    box.setAttribute("data-picked", "1");
  });
  function typed() {
    var x = parseFloat(lon.value), y = parseFloat(lat.value);
    if (isFinite(x) && isFinite(y)) { place([y, x]); }
  }
  lon.addEventListener("change", typed);
  lat.addEventListener("change", typed);
  typed();
  fetch("/maps/data/layers/rivers", { credentials: "same-origin" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (data) {
      if (data) { L.geoJSON(data, { style: { color: "#1f78b4", weight: 3 }, interactive: false }).addTo(map); }
    })
    .catch(function () { /* the map still works without the rivers */ })
    .then(function () { box.setAttribute("data-ready", "1"); });
})();
