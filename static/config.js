// The page's settings, from its address. Pure (node --test).

/** baseUri: the document's; its directory holds the assets and the API ("/", "/api/": index.html's first
 *  script is the one home of the stage root's slash). ?refresh=N (s) shortens the 30 s auto-refresh. */
export function pageConfig(baseUri, search) {
  const base = new URL(".", baseUri).pathname;
  const refreshS = Math.min(3600, Math.max(1, parseInt(new URLSearchParams(search).get("refresh"), 10) || 30));
  return {
    base,
    refreshS,
    retryS: 5, // while the API is down, whatever the toggle says
    pollS: Math.min(3, refreshS),
    pageSize: 20,
    autoRefreshKey: "evdash.autoRefresh",
    apiKeyKey: "evdash.apiKey:" + base,
  };
}
