import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, createApi, errorFrom, waitForJob, withQuery } from "../../static/api.js";
import { pageConfig } from "../../static/config.js";

/** A fetch that answers from a list and records what it was asked. */
function fakeFetch(answers) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, ...init });
    const next = answers.shift();
    if (next instanceof Error) throw next;
    const { status = 200, body = {}, statusText = "" } = next;
    const text = typeof body === "string" ? body : JSON.stringify(body);
    return { ok: status < 400, status, statusText, text: async () => text };
  };
  return { fetch, calls };
}

test("withQuery leaves out parameters without a value and encodes the rest", () => {
  assert.equal(withQuery("sessions", { limit: 20, status: "", nextToken: null }), "sessions?limit=20");
  assert.equal(withQuery("sessions", { nextToken: "a+b/c=" }), "sessions?nextToken=a%2Bb%2Fc%3D");
  assert.equal(withQuery("stats", {}), "stats");
});

test("the API's base is the page's directory, under a stage too", () => {
  assert.equal(pageConfig("http://127.0.0.1:8000/", "").base, "/");
  assert.equal(pageConfig("https://x.execute-api.eu-west-1.amazonaws.com/api/", "").base, "/api/");
  assert.equal(pageConfig("https://h/api/index.html?refresh=2", "").base, "/api/");
  assert.equal(pageConfig("https://h/api/", "").apiKeyKey, "evdash.apiKey:/api/");
});

/** The named settings the page's address gives. */
const settings = (search, ...names) => {
  const config = pageConfig("http://h/", search);
  return names.map((name) => config[name]);
};

test("?refresh= sets the interval within 1 s .. 1 h, and the session poll follows it down to 3 s", () => {
  const intervals = (search) => settings(search, "refreshS", "pollS");
  assert.deepEqual(intervals(""), [30, 3]);
  assert.deepEqual(intervals("?refresh=2"), [2, 2]);
  assert.equal(pageConfig("http://h/", "?refresh=0").refreshS, 30);
  assert.equal(pageConfig("http://h/", "?refresh=-5").refreshS, 1);
  assert.equal(pageConfig("http://h/", "?refresh=99999").refreshS, 3600);
  assert.equal(pageConfig("http://h/", "?refresh=abc").refreshS, 30);
});

test("?pageSize= sets every paged table's rows within the API's 1 .. 100; the idTags' pages are the longest", () => {
  const sizes = (search) => settings(search, "pageSize", "idTagPageSize");
  assert.deepEqual(sizes(""), [20, 100]);
  assert.deepEqual(sizes("?pageSize=7"), [7, 7]);
  assert.deepEqual(sizes("?pageSize=500"), [100, 100]);
  assert.deepEqual(sizes("?pageSize=-3"), [1, 1]);
  assert.deepEqual(sizes("?pageSize=abc"), [20, 100]);
});

test("errorFrom reads the app's {Code, Message} and API Gateway's {message}", () => {
  const app = errorFrom(404, { Code: "NotFoundError", Message: "no such session" }, "Not Found");
  assert.deepEqual([app.status, app.code, app.message], [404, "NotFoundError", "no such session"]);
  const gateway = errorFrom(403, { message: "Forbidden" }, "");
  assert.deepEqual([gateway.code, gateway.message], ["HTTP 403", "Forbidden"]);
  assert.equal(errorFrom(502, null, "Bad Gateway").message, "Bad Gateway");
  assert.ok(app instanceof ApiError && app instanceof Error);
});

test("a request goes under the base with the stored key, a POST with its JSON body", async () => {
  const { fetch, calls } = fakeFetch([{ body: { ok: 1 } }, { body: { commandId: "c1" } }]);
  const api = createApi({ base: "/api/", key: () => "k1", onDenied: () => assert.fail("not denied"), fetch });
  assert.deepEqual(await api.request("stats"), { ok: 1 });
  assert.deepEqual(await api.request("chargepoints/CP%201/commands", "POST", { action: "Reset" }), { commandId: "c1" });
  assert.equal(calls[0].url, "/api/stats");
  assert.equal(calls[0].headers["x-api-key"], "k1");
  assert.equal(calls[0].headers["Content-Type"], undefined);
  assert.equal(calls[0].body, undefined);
  assert.equal(calls[1].url, "/api/chargepoints/CP%201/commands");
  assert.equal(calls[1].method, "POST");
  assert.equal(calls[1].headers["Content-Type"], "application/json");
  assert.equal(calls[1].body, '{"action":"Reset"}');
});

test("without a key no x-api-key is sent; a refusal tells which key was refused", async () => {
  const denied = [];
  const { fetch, calls } = fakeFetch([{ status: 403, body: { message: "Forbidden" } }, { status: 401, body: {} }]);
  let key = "";
  const api = createApi({ base: "/", key: () => key, onDenied: (k) => denied.push(k), fetch });
  await assert.rejects(api.request("stats"), { status: 403, message: "Forbidden" });
  assert.equal("x-api-key" in calls[0].headers, false);
  key = "wrong";
  await assert.rejects(api.request("stats"), { status: 401 });
  assert.deepEqual(denied, ["", "wrong"]);
});

test("an unreachable server, a non-JSON answer and an app error are ApiErrors", async () => {
  const { fetch } = fakeFetch([new TypeError("Failed to fetch"), { body: "<html>" }, { body: "" },
    { status: 409, body: { Code: "ConflictError", Message: "a tick is running" } }]);
  const api = createApi({ base: "/", key: () => "", onDenied: () => assert.fail("not denied"), fetch });
  await assert.rejects(api.request("stats"), { status: 0, code: "NetworkError" });
  await assert.rejects(api.request("stats"), { status: 200, code: "BadResponse" });
  await assert.rejects(api.request("stats"), { status: 200, code: "BadResponse" });
  await assert.rejects(api.request("simulate", "POST"),
    { status: 409, code: "ConflictError", message: "a tick is running" });
});

test("all() follows nextToken page by page and stops at maxPages", async () => {
  const pages = [{ body: { chargePoints: [1, 2], nextToken: "t/1" } }, { body: { chargePoints: [3], nextToken: "t2" } },
    { body: { chargePoints: [4] } }];
  const { fetch, calls } = fakeFetch([...pages]);
  const api = createApi({ base: "/", key: () => "", onDenied: () => {}, fetch });
  assert.deepEqual(await api.all("chargepoints", "chargePoints", { limit: 100 }), [1, 2, 3, 4]);
  assert.deepEqual(calls.map((c) => c.url),
    ["/chargepoints?limit=100", "/chargepoints?limit=100&nextToken=t%2F1", "/chargepoints?limit=100&nextToken=t2"]);

  const capped = fakeFetch([...pages]);
  const api2 = createApi({ base: "/", key: () => "", onDenied: () => {}, fetch: capped.fetch });
  assert.deepEqual(await api2.all("chargepoints", "chargePoints", {}, 2), [1, 2, 3]);
  assert.equal(capped.calls.length, 2);
});

test("all() takes a page without the list as empty", async () => {
  const { fetch } = fakeFetch([{ body: { sessions: "nope" } }]);
  const api = createApi({ base: "/", key: () => "", onDenied: () => {}, fetch });
  assert.deepEqual(await api.all("sessions", "sessions", {}), []);
});

test("download sends the key and gives the file's bytes and the name its Content-Disposition says", async () => {
  const calls = [];
  const answers = [
    { ok: true, status: 200, headers: new Headers({ "Content-Disposition": 'attachment; filename="s.csv"' }),
      blob: async () => new Blob(["a,b\r\n"]) },
    { ok: false, status: 413, statusText: "", text: async () => '{"Code":"ExportTooLargeError","Message":"too big"}' },
  ];
  const api = createApi({ base: "/api/", key: () => "k", onDenied: () => {},
    fetch: async (url, init) => { calls.push({ url, ...init }); return answers.shift(); } });
  const file = await api.download("exports/sessions.csv?from=a&to=b", "text/csv");
  assert.equal(file.filename, "s.csv");
  assert.equal(file.status, 200);
  assert.equal(await file.blob.text(), "a,b\r\n");
  assert.deepEqual(calls[0].headers, { Accept: "text/csv", "x-api-key": "k" });
  await assert.rejects(api.download("exports/sessions.csv", "text/csv"),
    (e) => e instanceof ApiError && e.status === 413 && e.message === "too big");
});

test("a 204 No Content (a DELETE's answer) is an empty object, not a bad answer", async () => {
  const { fetch, calls } = fakeFetch([{ status: 204, body: "" }]);
  const api = createApi({ base: "/", key: () => "", onDenied: () => {}, fetch });
  assert.deepEqual(await api.request("idtags/TAG1", "DELETE"), {});
  assert.equal(calls[0].method, "DELETE");
});

test("waitForJob polls a running job, reports its progress, and gives its last state", async () => {
  const states = [{ status: "running" }, { status: "running", rows: 40 }, { status: "done", rows: 90, location: "u" }];
  const asked = [];
  const seen = [];
  const slept = [];
  const done = await waitForJob(async (path) => { asked.push(path); return states.shift(); }, "exports/jobs/j",
    (job) => seen.push(job.rows ?? 0), 1500, async (ms) => { slept.push(ms); });
  assert.deepEqual(done, { status: "done", rows: 90, location: "u" });
  assert.deepEqual(asked, ["exports/jobs/j", "exports/jobs/j", "exports/jobs/j"]);
  assert.deepEqual(seen, [0, 40]);
  assert.deepEqual(slept, [1500, 1500]);
  const failed = await waitForJob(async () => ({ status: "failed", error: "why" }), "p", () => {}, 1, async () => {});
  assert.equal(failed.error, "why");
});
