// The API client: JSON over fetch, failures as ApiError. Pure (node --test).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const DENIED = [401, 403];

/** path?query, leaving out the parameters without a value. */
export function withQuery(path, query) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? `${path}?${s}` : path;
}

/** API Gateway's own refusals say {"message"}, the app's errors {"Code", "Message"}. */
export function errorFrom(status, data, statusText) {
  return new ApiError(status, data?.Code || `HTTP ${status}`,
    data?.Message || data?.message || statusText || "request failed");
}

function parsed(text) {
  try { return text ? JSON.parse(text) : null; } catch { return null; }
}

/** Poll a job (GET path, JSON) every intervalMs until it is no longer running: its last state. onProgress
 * sees each running state (rows written so far). */
export async function waitForJob(request, path, onProgress, intervalMs = 1500,
  sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))) {
  for (;;) {
    const job = await request(path);
    if (job.status !== "running") return job;
    onProgress(job);
    await sleep(intervalMs);
  }
}

/** base: the API's path ("/api/"); key(): the API key or ""; onDenied(key): a 401/403 with that key. */
export function createApi({ base, key, onDenied, fetch = (...args) => globalThis.fetch(...args) }) {
  /** The answer when it is a success; an ApiError otherwise. */
  async function send(path, method, body, accept) {
    const headers = { Accept: accept };
    if (method !== "GET") headers["Content-Type"] = "application/json";
    const sent = key();
    if (sent) headers["x-api-key"] = sent;
    let res;
    try {
      res = await fetch(base + path, {
        method,
        cache: "no-store",
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "NetworkError", "the server could not be reached");
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => "");
    if (DENIED.includes(res.status)) onDenied(sent);
    throw errorFrom(res.status, parsed(text), res.statusText);
  }

  async function request(path, method = "GET", body = undefined) {
    const res = await send(path, method, body, "application/json");
    if (res.status === 204) return {}; // a DELETE's No Content
    const data = parsed(await res.text().catch(() => ""));
    if (data === null || typeof data !== "object") {
      throw new ApiError(res.status, "BadResponse", "the answer was not JSON");
    }
    return data;
  }

  /** A file the API answers (the CSV export), with the operator's key: its status, bytes and the name it
   * gives (a 202's bytes are the JSON of the job that will write it). */
  async function download(path, accept) {
    const res = await send(path, "GET", undefined, accept);
    const named = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "");
    return { status: res.status, blob: await res.blob(), filename: named ? named[1] : "" };
  }

  /** Every item of a list paged by nextToken, up to maxPages pages. */
  async function all(path, listKey, query, maxPages = 10) {
    const items = [];
    let token = null;
    for (let i = 0; i < maxPages; i++) {
      const data = await request(withQuery(path, { ...query, nextToken: token }));
      items.push(...(Array.isArray(data[listKey]) ? data[listKey] : []));
      token = data.nextToken;
      if (!token) break;
    }
    return items;
  }

  return { request, all, download };
}
