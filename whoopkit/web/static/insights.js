// Fills the AI insights card once the local model has answered.
// Same-origin file (the CSP forbids inline scripts); model output is untrusted, so only textContent is used.
"use strict";
(function () {
  var card = document.getElementById("insight");
  if (!card || card.getAttribute("data-state") !== "thinking") {
    return;
  }
  function byId(id) {
    return document.getElementById(id);
  }
  function fillList(list, items, makeClass) {
    while (list.firstChild) {
      list.removeChild(list.firstChild);
    }
    items.forEach(function (item) {
      var li = document.createElement("li");
      if (typeof item === "string") {
        li.textContent = item;
      } else {
        li.textContent = String(item.message || "");
        li.className = makeClass(item);
      }
      list.appendChild(li);
    });
  }
  function showFreshness(fresh) {
    if (!fresh) {
      return;
    }
    var line = byId("freshness");
    if (line && fresh.updated) {
      while (line.firstChild) {
        line.removeChild(line.firstChild);
      }
      line.appendChild(document.createTextNode("updated "));
      var time = document.createElement("time");
      time.setAttribute("data-testid", "updated");
      time.textContent = String(fresh.updated);
      line.appendChild(time);
    }
    var banner = byId("insight-stale");
    if (banner && fresh.stale) {
      banner.textContent = String(fresh.banner || "") + (fresh.problem ? " " + String(fresh.problem) : "");
      banner.hidden = false;
    }
  }
  function show(data) {
    var insights = data.insights || {};
    var summary = byId("insight-summary");
    summary.textContent = String(insights.summary || "");
    summary.classList.remove("thinking");
    var heading = card.querySelector("h3");
    if (heading) {
      heading.hidden = false;
    }
    fillList(byId("insight-recommendations"), (insights.recommendations || []).map(String), null);
    fillList(byId("insight-flags"), insights.flags || [], function (flag) {
      var level = ["info", "warning", "alert"].indexOf(flag.level) >= 0 ? flag.level : "info";
      return "flag flag-" + level;
    });
    byId("insight-source").textContent = data.source === "ollama" ? "AI · " + String(data.model || "") : "Rule-based";
    var notice = byId("insight-notice");
    var parts = Array.isArray(data.notice_parts) ? data.notice_parts : [];
    while (notice.firstChild) {
      notice.removeChild(notice.firstChild);
    }
    parts.forEach(function (part) {
      // Commands to type show as code; the text itself never carries Markdown backticks.
      var node = part.code ? document.createElement("code") : document.createTextNode(String(part.text || ""));
      if (part.code) {
        node.textContent = String(part.text || "");
      }
      notice.appendChild(node);
    });
    notice.hidden = parts.length === 0;
    var origin = byId("insight-origin");
    if (origin && data.origin) {
      origin.textContent = String(data.origin);
    }
    var facts = byId("insight-facts");
    if (facts && Array.isArray(data.facts) && data.facts.length) {
      while (facts.firstChild) {
        facts.removeChild(facts.firstChild);
      }
      data.facts.forEach(function (pair) {
        var row = document.createElement("div");
        var dt = document.createElement("dt");
        var dd = document.createElement("dd");
        dt.textContent = String(pair[0]);
        dd.textContent = String(pair[1]);
        row.appendChild(dt);
        row.appendChild(dd);
        facts.appendChild(row);
      });
      byId("insight-facts-card").hidden = false;
    }
    showFreshness(data.freshness);
    var fallback = card.querySelector(".fallback-link");
    if (fallback) {
      fallback.hidden = true;
    }
    card.setAttribute("data-state", "done");
  }
  function fail(message) {
    var summary = byId("insight-summary");
    summary.textContent = message;
    summary.classList.remove("thinking");
    card.setAttribute("data-state", "error");
  }
  fetch(card.getAttribute("data-src"), { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          throw new Error(String(body.message || "The insights could not be loaded."));
        }
        return body;
      });
    })
    .then(show)
    .catch(function (err) {
      fail(err && err.message ? err.message : "The insights could not be loaded.");
    });
})();
