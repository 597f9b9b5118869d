// Runs the run page's polling script against a fake DOM; fetch answers from a URL -> JSON map.
// Usage: node history_harness.js <script.js> <responses.json> <last_event_id>
"use strict";
const fs = require("fs");
const script = fs.readFileSync(process.argv[2], "utf8");
const responses = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const fetched = [];
const rows = [];
const table = {
  dataset: {eventsUrl: "/events/", lastEventId: process.argv[4], closed: "false", more: "false", pollInterval: "5"},
  tBodies: [{insertAdjacentHTML: (where, html) => rows.push(html)}],
};
const status = {dataset: {status: "1"}, textContent: "Running"};
const length = {textContent: ""};
const live = {textContent: "live"};
const closeTime = {textContent: "-"};
const pending = {innerHTML: "old pending"};
const outcome = {innerHTML: ""};
const actions = {hidden: false};
const byId = {"tf-history": table, "tf-run-status": status, "tf-history-length": length, "tf-live": live,
              "tf-close-time": closeTime, "tf-pending": pending, "tf-outcome-slot": outcome, "tf-actions": actions};
global.document = {getElementById: (id) => byId[id] || null};
global.window = {
  setTimeout: setTimeout, clearTimeout: clearTimeout,
  fetch: (url) => {
    fetched.push(url);
    const body = responses[url];
    return Promise.resolve(body === undefined
      ? {ok: false, status: 500, json: () => Promise.reject(new Error("no such response"))}
      : {ok: true, status: 200, json: () => Promise.resolve(body)});
  },
};
new Function(script)();
// Report once the script has been quiet for a while (it polls every 5 ms while the run is open).
let last = -1;
const check = setInterval(() => {
  if (fetched.length === last) {
    clearInterval(check);
    console.log(JSON.stringify({fetched, rows, status: status.textContent, length: length.textContent,
                                live: live.textContent, lastEventId: table.dataset.lastEventId,
                                closeTime: closeTime.textContent, pending: pending.innerHTML,
                                outcome: outcome.innerHTML, actionsHidden: actions.hidden}));
  }
  last = fetched.length;
}, 300);
