// router.js — reading and writing the URL fragment the dashboard routes on.

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#/, '') || '/';
  const qi = raw.indexOf('?');
  const path = qi < 0 ? raw : raw.slice(0, qi);
  const query = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
  return { path: path.replace(/\/+$/, '') || '/', query };
}

// hashFor('/webhooks', {page: 2, name: ''}) → "#/webhooks?page=2"
export function hashFor(path, query) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  }
  const qs = q.toString();
  return `#${path}${qs ? `?${qs}` : ''}`;
}

// Goes to a route; going to the route already shown renders it again.
export function navigate(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}
