// api.js — the herald API client and the signed-in session.
//
// The API key lives in sessionStorage only (this tab, gone when it closes)
// and travels in the Authorization header, never in a URL. An admin key may
// act on another account: the chosen account goes in Herald-Account.

const KEY = 'herald.key';
const ACCOUNT = 'herald.account';
const ADMIN = 'herald.admin';
const HOME = 'herald.home';

export const session = {
  get key() {
    return sessionStorage.getItem(KEY) || '';
  },
  get account() {
    return sessionStorage.getItem(ACCOUNT) || '';
  },
  get admin() {
    return sessionStorage.getItem(ADMIN) === '1';
  },
  // The key's own account (from GET /v1/me), "" when unknown.
  get home() {
    return sessionStorage.getItem(HOME) || '';
  },
  signIn(key, admin, home) {
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(ADMIN, admin ? '1' : '0');
    sessionStorage.setItem(HOME, home || '');
    sessionStorage.removeItem(ACCOUNT);
  },
  setAccount(id) {
    if (id) sessionStorage.setItem(ACCOUNT, id);
    else sessionStorage.removeItem(ACCOUNT);
  },
  clear() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(ACCOUNT);
    sessionStorage.removeItem(ADMIN);
    sessionStorage.removeItem(HOME);
  },
};

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.name = 'ApiError';
    this.status = status; // 0 when herald could not be reached
    this.code = code;
    this.field = field || '';
  }
}

// Listeners told when a key is rejected (the app goes back to sign-in).
const unauthorized = new Set();
export function onUnauthorized(fn) {
  unauthorized.add(fn);
}

function buildQuery(query) {
  if (!query) return '';
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === null || v === undefined || v === '') continue;
    q.set(k, String(v));
  }
  const str = q.toString();
  return str ? `?${str}` : '';
}

// api('GET', '/v1/webhooks', {query, body, signal, key, account, quiet401})
// resolves to the parsed JSON answer (null for an empty body) or rejects
// with an ApiError carrying the API's {"error":{code,message,field}}.
export async function api(method, path, opts = {}) {
  const key = opts.key ?? session.key;
  const account = opts.account ?? session.account;
  const headers = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (account) headers['Herald-Account'] = account;
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(path + buildQuery(opts.query), {
      method,
      headers,
      body,
      signal: opts.signal,
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(
      0,
      'network',
      'herald cannot be reached. Check that the server is running, then try again.',
    );
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (res.ok) return data;
  const err = data && data.error ? data.error : {};
  const message = err.message || `${res.status} ${res.statusText || 'error'}`;
  const error = new ApiError(res.status, err.code || `http_${res.status}`, message, err.field);
  if (res.status === 401 && !opts.quiet401) {
    session.clear();
    for (const fn of unauthorized) fn(error);
  }
  throw error;
}

// Lists come as {"items":[…],…} or, from some routes, a bare array.
export function itemsOf(data) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data.items)) return data.items;
  return [];
}

// Every item of a list route, 100 a page (at most `max` items): the
// answer is {"items","total",…} or, from some routes, a bare array.
export async function allPages(path, signal, max = 1000) {
  const out = [];
  for (let page = 0; out.length < max; page++) {
    const data = await api('GET', path, { signal, query: { page, count: 100 } });
    const items = itemsOf(data);
    out.push(...items);
    if (
      Array.isArray(data) ||
      items.length < 100 ||
      (data && typeof data.total === 'number' && out.length >= data.total)
    )
      break;
  }
  return out;
}

// Event types, cached per account for the session: the catalog rarely
// changes and many pages need it.
const typeCache = new Map();
export async function eventTypes(signal) {
  const k = session.account || '-';
  if (!typeCache.has(k)) {
    const p = allPages('/v1/event-types', signal);
    typeCache.set(k, p);
    p.catch(() => typeCache.delete(k));
  }
  return typeCache.get(k);
}
export function forgetEventTypes() {
  typeCache.clear();
}

// An attempt succeeded when it carries no error class (store.h: error is ""
// on success); a 2xx code alone is not enough (e.g. a body too large).
export function attemptOk(a) {
  if (typeof a.success === 'boolean') return a.success;
  if (a.status === 'success' || a.status === 'succeeded') return true;
  if (a.status === 'failure' || a.status === 'failed') return false;
  return !a.error && a.response_code >= 200 && a.response_code < 300;
}
