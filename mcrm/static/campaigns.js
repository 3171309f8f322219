// The campaign composer and the campaign page.
// Composer: the audience and schedule choices show only their own inputs; field buttons insert
// {name}-style fields at the cursor; a live counter counts the text as the longest recipient gets
// it (signature + text with every field at its longest value in the audience + unsubscribe hint) by
// the gateway's rule (sms-counter.js); the server's figures (recipients, longest values, coupons left,
// problems) refresh a moment after each change. Campaign page: the progress bar and figures refresh
// themselves while the campaign is live.
(function () {
  "use strict";
  var csrf = document.querySelector("meta[name=csrf-token]").content;

  function post(url, data) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify(data)
    }).then(function (r) { return r.json(); });
  }

  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (m, key) { return key in values ? values[key] : m; });
  }

  // -- the composer ---------------------------------------------------------------------------------

  var form = document.getElementById("campaign-form");
  if (form) composer(form);

  function composer(form) {
    var T = JSON.parse(document.getElementById("campaign-texts").textContent);
    var shop = JSON.parse(document.getElementById("campaign-shop").textContent);
    var body = form.querySelector("textarea[name=body]");
    var coupon = form.querySelector("select[name=coupon_app_id]");
    var survey = form.querySelector("select[name=survey_id]");
    var segment = form.querySelector("select[name=segment_id]");
    var definition = form.querySelector("input[name=definition]");
    var counter = document.getElementById("campaign-counter");
    var longestText = document.getElementById("campaign-longest");
    var recipients = document.getElementById("campaign-recipients");
    var audienceWords = document.getElementById("campaign-audience");
    var optedOut = document.getElementById("campaign-opted-out");
    var partsEach = document.getElementById("campaign-parts");
    var totalParts = document.getElementById("campaign-total-parts");
    var problems = document.getElementById("campaign-problems");
    var couponsLeft = document.getElementById("coupons-left");
    var longest = {}, reachable = null, timer = null, asked = 0;

    function checked(name) {
      var box = form.querySelector("input[name=" + name + "]:checked");
      return box ? box.value : "";
    }

    function showChoices() {
      var audience = checked("audience"), schedule = checked("schedule");
      form.querySelectorAll("[data-audience]").forEach(function (n) { n.hidden = n.dataset.audience !== audience; });
      audienceWords.hidden = audience === "build";  // the builder words its conditions itself
      form.querySelectorAll("[data-schedule]").forEach(function (n) {
        n.hidden = n.dataset.schedule.split(" ").indexOf(schedule) < 0;
      });
    }

    // the text as the longest recipient's phone shows it; {{ and }} are literal braces
    function filled() {
      var text = body.value.replace(/\{\{|\}\}|\{(\w+)\}/g, function (m, name) {
        if (!name) return m.charAt(0);
        return name in longest ? longest[name] : m;
      });
      return shop.signature + text + shop.hint;
    }

    function count() {
      var text = filled(), shape = window.mcrmSmsShape(text);
      counter.textContent = fmt(T.counter, {chars: shape.chars, parts: shape.parts});
      counter.dataset.chars = shape.chars;
      counter.dataset.parts = shape.parts;
      counter.classList.toggle("over", shape.parts > Number(counter.dataset.most));
      longestText.textContent = text;
      partsEach.textContent = shape.parts;
      if (reachable !== null) {
        totalParts.textContent = (reachable * shape.parts).toLocaleString();
        totalParts.dataset.total = reachable * shape.parts;
      }
    }

    function ask() {
      var mine = ++asked;
      post(form.dataset.previewUrl, {
        body: body.value, audience: checked("audience"), definition: definition.value,
        segment_id: segment && segment.value ? Number(segment.value) : null,
        coupon_app_id: coupon && coupon.value ? Number(coupon.value) : null,
        survey_id: survey && survey.value ? Number(survey.value) : null
      }).then(function (answer) {
        if (mine !== asked) return;  // an older answer arriving late
        problems.textContent = "";
        if (answer.error) {
          problems.appendChild(Object.assign(document.createElement("li"), {textContent: answer.error}));
          return;
        }
        longest = answer.longest_values;
        reachable = answer.recipients - answer.opted_out;
        audienceWords.textContent = answer.audience;
        recipients.textContent = answer.recipients.toLocaleString();
        recipients.dataset.count = answer.recipients;
        optedOut.textContent = answer.opted_out ? fmt(T.opted_out, {count: answer.opted_out}) : "";
        couponsLeft.hidden = !(coupon && coupon.value);
        couponsLeft.textContent = answer.coupons_available === null ? T.coupons_unlimited
          : fmt(T.coupons_left, {count: answer.coupons_available.toLocaleString()});
        answer.problems.forEach(function (p) {
          problems.appendChild(Object.assign(document.createElement("li"), {textContent: p}));
        });
        count();
      });
    }

    function changed() {
      showChoices();
      count();
      clearTimeout(timer);
      timer = setTimeout(ask, 300);
    }

    form.querySelectorAll("[data-field]").forEach(function (button) {
      button.addEventListener("click", function () {
        var field = "{" + button.dataset.field + "}";
        var start = body.selectionStart, end = body.selectionEnd;
        body.setRangeText(field, start, end, "end");
        body.focus();
        changed();
      });
    });
    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    var builder = document.getElementById("segment-builder");
    if (builder) builder.addEventListener("segment-change", changed);

    var test = document.getElementById("test-send");
    var result = document.getElementById("test-result");
    if (test) test.addEventListener("click", function () {
      test.disabled = true;
      result.textContent = T.sending;
      post(form.dataset.testUrl, {
        body: body.value, coupon_app_id: coupon && coupon.value ? Number(coupon.value) : null,
        survey_id: survey && survey.value ? Number(survey.value) : null
      }).then(function (answer) {
        result.textContent = answer.error || answer.message;
        result.className = answer.error ? "error" : "ok";
        test.disabled = false;
      });
    });

    changed();
  }

  // -- the campaign page ----------------------------------------------------------------------------

  var live = document.querySelector("[data-progress-url]");
  if (live) watch(live);

  function watch(panel) {
    function show(answer) {
      var whole = Math.max(answer.targeted, 1);
      var total = {suppressed: answer.suppressed};
      panel.querySelectorAll("[data-part]").forEach(function (bar) {
        var value = bar.dataset.part in total ? total[bar.dataset.part] : answer[bar.dataset.part];
        bar.style.width = (100 * value / whole).toFixed(2) + "%";
      });
      var progress = panel.querySelector("[role=progressbar]");
      progress.setAttribute("aria-valuemax", answer.targeted);
      progress.setAttribute("aria-valuenow", answer.delivered);
      document.querySelectorAll("[data-figure]").forEach(function (cell) {
        var value = cell.dataset.figure in total ? total[cell.dataset.figure] : answer[cell.dataset.figure];
        if (value === undefined) return;
        cell.textContent = typeof value === "number" ? value.toLocaleString() : value;
        cell.dataset.value = value;
      });
      var status = document.querySelector("[data-status]");
      if (status && status.dataset.status !== answer.status) {
        // a new status brings other controls: the page shows them after a reload
        window.location.reload();
        return false;
      }
      return answer.live;
    }

    function poll() {
      fetch(panel.dataset.progressUrl, {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (answer) {
          if (answer === null || show(answer)) setTimeout(poll, 2000);
        }, function () { setTimeout(poll, 5000); });
    }

    setTimeout(poll, 1000);
  }
})();
