// Draw the chart (if any) and say when the page is ready to print: the PDF printer waits for
// window.kpiboardReady, so the chart is printed as finished SVG paths, never half drawn.
(function () {
  window.kpiboardReady = false;
  var data = document.getElementById("chart-data");
  var done = function () {
    document.fonts.ready.then(function () { window.kpiboardReady = true; });
  };
  if (!data) { done(); return; }
  if (typeof Plotly === "undefined") {
    document.getElementById("chart").textContent = "The chart needs plotly.js, which did not load.";
    done();
    return;
  }
  if (window.kpiboardPlotlyCss && !document.getElementById("plotly.js-style-global")) {
    // plotly.js adds its stylesheet once, when it loads; a page written into the printer's
    // window (which loaded it) gets a copy, else the chart's layers are not stacked
    var style = document.createElement("style");
    style.id = "plotly.js-style-global";
    style.textContent = window.kpiboardPlotlyCss;
    document.head.appendChild(style);
  }
  var fig = JSON.parse(data.textContent);
  var node = document.getElementById("chart");
  Plotly.newPlot(node, fig.data, fig.layout, {displayModeBar: false, responsive: true})
    .then(done, function (error) { window.kpiboardError = String(error); done(); });
  if (window.matchMedia && !window.kpiboardResizes) {
    // a browser's own print redraws the chart at the paper's width (once per window: the PDF
    // printer writes many reports into one window)
    window.kpiboardResizes = true;
    window.matchMedia("print").addEventListener("change", function () {
      var chart = document.getElementById("chart");
      if (chart) { Plotly.Plots.resize(chart); }
    });
  }
})();
