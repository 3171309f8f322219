// The segment builder: nested groups of conditions kept as JSON in the form's hidden field, with a
// live count, description and sample from the server (POST, CSRF token in the header) while editing.
// It lives in whatever form holds it (a segment, a campaign's audience) and tells that form of every
// change with a "segment-change" event on the builder.
(function () {
  "use strict";
  var root = document.getElementById("segment-builder");
  if (!root) return;
  var form = root.closest("form");
  var field = form.querySelector("input[name=definition]");
  var vocabulary = JSON.parse(document.getElementById("segment-vocabulary").textContent);
  var T = JSON.parse(document.getElementById("segment-texts").textContent);
  var types = {};
  vocabulary.forEach(function (c) { types[c.type] = c; });
  var csrf = document.querySelector("meta[name=csrf-token]").content;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function select(options, value, attrs) {
    var s = el("select", attrs);
    options.forEach(function (o) {
      var opt = el("option", {value: o[0], text: o[1]});
      if (String(o[0]) === String(value)) opt.selected = true;
      s.appendChild(opt);
    });
    return s;
  }

  // -- reading the tree back into JSON ------------------------------------------------------------

  function readGroup(node) {
    var items = [];
    node.querySelector(":scope > .items").childNodes.forEach(function (child) {
      if (child.classList.contains("seg-group")) items.push(readGroup(child));
      else if (child.classList.contains("seg-cond")) {
        var c = readCondition(child);
        if (c) items.push(c);
      }
    });
    return {op: node.querySelector(":scope > .seg-head select").value, items: items};
  }

  function readCondition(node) {
    var type = node.querySelector(".seg-type").value;
    if (!type) return null;
    var out = {type: type};
    types[type].params.forEach(function (p) {
      var box = node.querySelector('[data-param="' + p.name + '"]');
      var value = readParam(p, box);
      if (value !== null && value !== "" && !(Array.isArray(value) && !value.length)) out[p.name] = value;
    });
    return out;
  }

  function readParam(p, box) {
    if (p.kind === "choices" && p.choices.length) {
      return Array.prototype.map.call(box.querySelectorAll("input:checked"), function (i) { return i.value; });
    }
    if (p.kind === "period") {
      var mode = box.querySelector("select").value;
      if (mode === "days") return {days: box.querySelector("[name=days]").value};
      if (mode === "between") {
        var period = {};
        ["from", "to"].forEach(function (end) {
          var v = box.querySelector("[name=" + end + "]").value;
          if (v) period[end] = v;
        });
        return period;
      }
      return null;
    }
    var input = box.querySelector("input, select");
    var value = input.value.trim();
    if (p.kind === "texts" || (p.kind === "choices")) return value ? value.split(/[\s,，]+/) : [];
    if (p.kind === "int" || p.kind === "ref") return value === "" ? null : Number(value);
    if (p.kind === "bool") return value === "" ? null : value === "yes";
    return value;
  }

  // -- building the tree from JSON ----------------------------------------------------------------

  function paramInput(p, value) {
    var box = el("label", {"class": "seg-param", "data-param": p.name}, [el("span", {text: p.label})]);
    if (p.kind === "choices" && p.choices.length) {
      var chosen = (value || []).map(String);
      box = el("fieldset", {"class": "seg-param", "data-param": p.name}, [el("legend", {text: p.label})]);
      p.choices.forEach(function (c) {
        var box2 = el("input", {type: "checkbox", value: c[0]});
        box2.checked = chosen.indexOf(String(c[0])) >= 0;
        box.appendChild(el("label", {"class": "check"}, [box2, document.createTextNode(" " + c[1])]));
      });
      return box;
    }
    if (p.kind === "choice") box.appendChild(select(p.choices, value === undefined ? p.default : value));
    else if (p.kind === "ref") box.appendChild(select([["", T.any]].concat(p.choices), value || ""));
    else if (p.kind === "bool") {
      var v = value === undefined ? p.default : value;
      box.appendChild(select([["yes", T.yes], ["no", T.no]], v === false ? "no" : "yes"));
    } else if (p.kind === "period") {
      value = value || {};
      var mode = value.days ? "days" : (value.from || value.to) ? "between" : (p.required ? "days" : "");
      var modes = (p.required ? [] : [["", T.ever]]).concat([["days", T.last_days], ["between", T.between]]);
      var days = el("input", {type: "number", name: "days", min: "1", value: value.days || 30,
                              "aria-label": T.days, inputmode: "numeric"});
      var from = el("input", {type: "date", name: "from", value: value.from || "", "aria-label": T.from});
      var to = el("input", {type: "date", name: "to", value: value.to || "", "aria-label": T.to});
      var modeSelect = select(modes, mode);
      var show = function () {
        days.hidden = modeSelect.value !== "days";
        from.hidden = to.hidden = modeSelect.value !== "between";
      };
      modeSelect.addEventListener("change", show);
      show();
      [modeSelect, days, from, to].forEach(function (n) { box.appendChild(n); });
    } else {
      var attrs = {value: value === undefined || value === null ? (p.default === null ? "" : p.default) : value};
      if (p.kind === "int" || p.kind === "money" || p.kind === "number") {
        attrs.type = "number";
        attrs.inputmode = p.kind === "int" ? "numeric" : "decimal";
        attrs.step = {int: "1", money: "0.01", number: "any"}[p.kind];
        if (p.min !== null) attrs.min = p.min;
        if (p.max !== null) attrs.max = p.max;
      } else if (p.kind === "date") attrs.type = "date";
      else {
        attrs.type = "text";
        if (Array.isArray(value)) attrs.value = value.join(" ");
        if (p.kind === "texts") attrs.placeholder = T.words_hint;
      }
      var input = el("input", attrs);
      if (p.choices.length) {  // suggestions (tags) without restricting what may be typed
        var list = el("datalist", {id: "seg-list-" + p.name});
        p.choices.forEach(function (c) { list.appendChild(el("option", {value: c[0]})); });
        input.setAttribute("list", list.id);
        box.appendChild(list);
      }
      box.appendChild(input);
    }
    return box;
  }

  function conditionNode(data) {
    var node = el("div", {"class": "seg-cond"});
    var typeSelect = el("select", {"class": "seg-type", "aria-label": T.choose});
    typeSelect.appendChild(el("option", {value: "", text: T.choose}));
    var groups = {};
    vocabulary.forEach(function (c) {
      if (!groups[c.category]) {
        groups[c.category] = el("optgroup", {label: c.category});
        typeSelect.appendChild(groups[c.category]);
      }
      var opt = el("option", {value: c.type, text: c.label});
      if (data && data.type === c.type) opt.selected = true;
      groups[c.category].appendChild(opt);
    });
    var params = el("div", {"class": "seg-params"});
    var fill = function (values) {
      params.textContent = "";
      var type = types[typeSelect.value];
      if (type) type.params.forEach(function (p) { params.appendChild(paramInput(p, values[p.name])); });
    };
    typeSelect.addEventListener("change", function () { fill({}); changed(); });
    fill(data || {});
    var remove = el("button", {type: "button", "class": "link seg-remove", text: T.remove});
    remove.addEventListener("click", function () { node.remove(); changed(); });
    node.appendChild(el("div", {"class": "seg-head"}, [typeSelect, remove]));
    node.appendChild(params);
    return node;
  }

  function groupNode(data, isRoot) {
    var node = el("div", {"class": "seg-group" + (isRoot ? " root" : "")});
    var op = select([["and", T.and], ["or", T.or], ["not", T.not]], data.op, {"aria-label": T.match});
    var head = el("div", {"class": "seg-head"}, [el("span", {text: T.match}), op]);
    if (!isRoot) {
      var remove = el("button", {type: "button", "class": "link seg-remove", text: T.remove});
      remove.addEventListener("click", function () { node.remove(); changed(); });
      head.appendChild(remove);
    }
    var items = el("div", {"class": "items"});
    (data.items || []).forEach(function (item) {
      items.appendChild(Array.isArray(item.items) ? groupNode(item, false) : conditionNode(item));
    });
    var addCondition = el("button", {type: "button", "class": "button secondary seg-add-condition",
                                     text: T.add_condition});
    addCondition.addEventListener("click", function () {
      items.appendChild(conditionNode(null));
      items.lastChild.querySelector("select").focus();
    });
    var addGroup = el("button", {type: "button", "class": "button secondary seg-add-group", text: T.add_group});
    addGroup.addEventListener("click", function () {
      items.appendChild(groupNode({op: "or", items: [{}]}, false));
      changed();
    });
    node.appendChild(head);
    node.appendChild(items);
    node.appendChild(el("div", {"class": "seg-actions"}, [addCondition, addGroup]));
    return node;
  }

  // -- the live preview ---------------------------------------------------------------------------

  var timer = null, asked = 0;
  var count = document.getElementById("segment-count");
  var description = document.getElementById("segment-description");
  var error = document.getElementById("segment-error");
  var sample = document.getElementById("segment-sample");

  function changed() {
    var definition = readGroup(root.firstChild);
    field.value = JSON.stringify(definition);
    root.dispatchEvent(new CustomEvent("segment-change", {detail: definition}));
    clearTimeout(timer);
    timer = setTimeout(function () { preview(definition); }, 300);
  }

  function preview(definition) {
    var mine = ++asked;
    fetch(root.dataset.previewUrl, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify({definition: definition})
    }).then(function (r) { return r.json(); }).then(function (answer) {
      if (mine !== asked) return;  // an older answer arriving late
      error.hidden = !answer.error;
      error.textContent = answer.error || "";
      if (answer.error) return;
      count.textContent = answer.count.toLocaleString();
      count.dataset.count = answer.count;
      description.textContent = answer.description;
      sample.textContent = "";
      answer.sample.forEach(function (m) {
        sample.appendChild(el("li", {}, [el("a", {href: m.url, text: m.msisdn}),
                                          document.createTextNode(" " + m.name + " " + m.tier)]));
      });
    });
  }

  root.addEventListener("change", changed);
  root.addEventListener("input", changed);
  var initial;
  try { initial = JSON.parse(field.value || "{}"); } catch (e) { initial = {}; }
  if (!Array.isArray(initial.items)) initial = {op: "and", items: initial.type ? [initial] : []};
  root.appendChild(groupNode(initial, true));
  changed();
})();
