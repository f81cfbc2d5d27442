// The one way the client talks to the server: fetch under /api/v1 with the session cookie
// (never a stored token) and the CSRF header every state-changing request needs.

/** A failed request: HTTP status and the API's error object ({code, message, field}). */
export class ApiFailure extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code;
    this.field = error?.field;
  }
}

const sessionListeners = new Set();
/** f(code) is called when the server says the session is gone or the PIN must change. */
export function onSessionProblem(f) { sessionListeners.add(f); }

/** Calls the API; resolves to the JSON answer (null for 204), rejects with ApiFailure. */
export async function api(method, path, body) {
  const headers = { 'X-OneStatus-CSRF': '1', Accept: 'application/json' };
  let payload;
  if (body instanceof Blob) {
    payload = body;
    headers['Content-Type'] = body.type || 'application/octet-stream';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  const r = await fetch(`/api/v1${path}`, { method, headers, body: payload, credentials: 'same-origin' });
  const isJson = (r.headers.get('content-type') || '').includes('json');
  const data = r.status === 204 || !isJson ? null : await r.json();
  if (!r.ok) {
    const failure = new ApiFailure(r.status, data?.error);
    if ((r.status === 401 && path !== '/login') || failure.code === 'pin_change_required') {
      sessionListeners.forEach((f) => f(failure.code || 'unauthenticated'));
    }
    throw failure;
  }
  return data;
}

const prefetched = new Map();

/** Starts a GET now so a screen about to mount finds its answer on the way (one use). */
export function prefetch(path) {
  const answer = api('GET', path);
  answer.catch(() => {}); // the screen that takes it handles the failure
  prefetched.set(path, answer);
}

/** Forgets prefetched answers (logout). */
export function clearPrefetched() { prefetched.clear(); }

export const get = (p) => {
  const early = prefetched.get(p);
  if (early) { prefetched.delete(p); return early; }
  return api('GET', p);
};
export const post = (p, b) => api('POST', p, b ?? {});
export const put = (p, b) => api('PUT', p, b);
export const patch = (p, b) => api('PATCH', p, b);
export const del = (p) => api('DELETE', p);
