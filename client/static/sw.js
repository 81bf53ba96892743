// Rectify's service worker: caches the app shell so the app starts with no network.
// `cargo xtask build` fills in VERSION and ASSETS; the hashed assets never change.
// ASSETS are the school build's (and the CSS): installing never fetches the full build, so a
// school never downloads the office's pages. The full build is cached when a device that
// oversees first loads it through this worker (every `/assets/` file fetched is kept).
const VERSION = "{{VERSION}}";
const ASSETS = {{ASSETS}};
const CACHE = `rectify-shell-${VERSION}`;
const SHELL = ["/", "/manifest.webmanifest", "/icon.svg", ...ASSETS];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("rectify-shell-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  // The API and sync are never cached here: the app keeps its own data in IndexedDB.
  if (url.pathname.startsWith("/api/") || url.pathname === "/sync") return;
  if (request.mode === "navigate") {
    // Network first, so a new version shows at once; the cached shell when offline.
    event.respondWith(
      fetch(request).catch(() => caches.open(CACHE).then((cache) => cache.match("/"))),
    );
    return;
  }
  event.respondWith(
    caches.open(CACHE).then((cache) => cache.match(request).then((hit) => hit || fetch(request).then((response) => {
      // A hashed asset never changes: keep it for offline starts (the full build's files).
      if (response.ok && url.pathname.startsWith("/assets/")) cache.put(request, response.clone());
      return response;
    }))),
  );
});
