// The queue's 勾选各河流最新版本: ticks each river's newest waiting version of each layer (the page marks them).
// Without scripts the button stays hidden and the boxes are ticked one by one.
(function () {
  "use strict";
  var button = document.getElementById("rg-choose-newest");
  if (!button) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    document.querySelectorAll("#rg-approve-chosen input[name=ids]").forEach(function (box) {
      box.checked = box.dataset.newest === "1";
    });
  });
})();
