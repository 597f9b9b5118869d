// Runs the run page's live-history script against a fake DOM, a fake WebSocket and a fake fetch.
// Usage: node ws_harness.js <script.js> <fixture.json>
//   fixture: {lastEventId, closed, mode: "deliver"|"fail"|"drop"|"forbidden", messages: [...], responses: {url: json}}
"use strict";
const fs = require("fs");
const script = fs.readFileSync(process.argv[2], "utf8");
const fixture = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const fetched = [];
const sockets = [];
const rows = [];
const table = {
  dataset: {eventsUrl: "/events/", lastEventId: String(fixture.lastEventId), closed: String(fixture.closed),
            more: "false", pollInterval: "5", wsPath: "/ws/temporalflow/runs/7/"},
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

class FakeWebSocket {
  constructor(url) {
    this.url = url;
    this.closedByPage = false;
    sockets.push(this);
    setTimeout(() => this.play(), 5);
  }
  close() { this.closedByPage = true; }
  play() {
    const mode = fixture.mode;
    if (mode === "fail") { this.onclose({code: 1006}); return; }
    this.onopen();
    if (mode === "forbidden") { this.onclose({code: 4403}); return; }
    for (const m of fixture.messages) { this.onmessage({data: JSON.stringify(m)}); }
    if (!this.closedByPage) { this.onclose({code: mode === "drop" ? 1006 : 1000}); }
  }
}

global.document = {getElementById: (id) => byId[id] || null};
global.window = {
  setTimeout: setTimeout, clearTimeout: clearTimeout,
  location: {protocol: "https:", host: "example.test"},
  WebSocket: FakeWebSocket,
  fetch: (url) => {
    fetched.push(url);
    const body = fixture.responses[url];
    return Promise.resolve(body === undefined
      ? {ok: false, status: 500, json: () => Promise.reject(new Error("no such response"))}
      : {ok: true, status: 200, json: () => Promise.resolve(body)});
  },
};
new Function(script)();
let last = -1;
const check = setInterval(() => {
  const seen = fetched.length + rows.length;
  if (seen === last) {
    clearInterval(check);
    console.log(JSON.stringify({fetched, rows, sockets: sockets.map((s) => s.url), status: status.textContent,
                                length: length.textContent, live: live.textContent,
                                lastEventId: table.dataset.lastEventId, closeTime: closeTime.textContent,
                                pending: pending.innerHTML, outcome: outcome.innerHTML,
                                actionsHidden: actions.hidden}));
  }
  last = seen;
}, 300);
