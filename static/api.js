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

/** base: the API's path ("/api/"); key(): the API key or ""; onDenied(key): a 401/403 with that key. */
export function createApi({ base, key, onDenied, fetch = (...args) => globalThis.fetch(...args) }) {
  async function request(path, method = "GET", body = undefined) {
    const headers = { Accept: "application/json" };
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
    const text = await res.text().catch(() => "");
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    if (!res.ok) {
      if (DENIED.includes(res.status)) onDenied(sent);
      throw errorFrom(res.status, data, res.statusText);
    }
    if (res.status === 204) return {}; // a DELETE's No Content
    if (data === null || typeof data !== "object") {
      throw new ApiError(res.status, "BadResponse", "the answer was not JSON");
    }
    return data;
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

  return { request, all };
}
