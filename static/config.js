// The page's settings, from its address. Pure (node --test).

/** baseUri: the document's; its directory holds the assets and the API ("/", "/api/": index.html's first
 *  script is the one home of the stage root's slash). ?refresh=N (s) shortens the 30 s auto-refresh;
 *  ?pageSize=N (1-100, the API's most) sets the rows of every paged table. */
export function pageConfig(baseUri, search) {
  const base = new URL(".", baseUri).pathname;
  const query = new URLSearchParams(search);
  const refreshS = Math.min(3600, Math.max(1, parseInt(query.get("refresh"), 10) || 30));
  const rows = (n) => Math.min(100, Math.max(1, parseInt(query.get("pageSize"), 10) || n));
  return {
    base,
    refreshS,
    retryS: 5, // while the API is down, whatever the toggle says
    pollS: Math.min(3, refreshS),
    pageSize: rows(20),
    idTagPageSize: rows(100), // thousands of RFID cards: the fewest pages
    autoRefreshKey: "evdash.autoRefresh",
    apiKeyKey: "evdash.apiKey:" + base,
  };
}
