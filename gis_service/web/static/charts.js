// Draw each dashboard figure (data in a JSON script next to it); a click on a bar opens the page behind it.
(function () {
  "use strict";
  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-chart"));
    if (!source || !window.echarts) return;
    var data = JSON.parse(source.textContent);
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    var series = {
      type: "bar",
      data: data.values,
      itemStyle: { color: "#206bc4" },
      label: { show: true, position: "right", formatter: "{c}" + data.unit },
    };
    if (data.threshold !== null) {
      series.markLine = { symbol: "none", data: [{ xAxis: data.threshold }], lineStyle: { color: "#d63939" },
        label: { formatter: "达标线 {c}%", position: "end" } };
    }
    series.itemStyle = { color: function (p) {
      var good = data.good[p.dataIndex];
      return good === true ? "#2fb344" : good === false ? "#d63939" : "#206bc4";
    } };
    chart.setOption({
      animation: false,
      grid: { left: 8, right: 56, top: 24, bottom: 8, containLabel: true },
      xAxis: { type: "value", max: data.threshold !== null ? 100 : null },
      yAxis: { type: "category", data: data.labels, inverse: true, axisLabel: { width: 110, overflow: "truncate" } },
      tooltip: { trigger: "item", formatter: function (p) { return echarts.format.encodeHTML(p.name) + "：" + p.value + data.unit; } },
      series: [series],
    });
    chart.on("click", function (p) { if (data.links[p.dataIndex]) window.location.href = data.links[p.dataIndex]; });
    window.addEventListener("resize", function () { chart.resize(); });
    el.setAttribute("data-drawn", "1");
  }
  document.querySelectorAll("[data-chart]").forEach(draw);
  document.body.setAttribute("data-charts-ready", "1");
})();
