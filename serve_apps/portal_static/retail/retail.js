// What the retail pages share besides charts: the catalogue's regions and categories,
// select options, and whether the key may decide (pricing-manager or admin).
(function () {
  "use strict";
  const { api, el } = window.portal;
  let dimensions = null;

  // {regions, categories, groups}: from the lake's price statistics per region x category.
  function catalogue() {
    dimensions ||= api("/prices/aggregate").then((answer) => ({
      groups: answer.groups,
      regions: [...new Set(answer.groups.map((g) => g.region))].sort(),
      categories: [...new Set(answer.groups.map((g) => g.category))].sort(),
    }));
    return dimensions;
  }

  // Append one <option> per value to a <select>, keeping the options it has.
  function fillSelect(select, values) {
    select.append(...values.map((v) => el("option", { value: v }, v)));
  }

  const decides = (me) => me.roles.includes("pricing-manager") || me.roles.includes("admin");

  window.retail = { catalogue, fillSelect, decides };
})();
