// Live updates over Server-Sent Events (/api/v1/events): never polling. On a lost connection
// the state becomes "reconnecting", the stream is reopened with exponential back-off (1 s to
// 30 s), and when it is back every subscriber is told to re-read what it shows ("resync"),
// since events may have been missed meanwhile.

const subscribers = new Set();
let source = null;
let delay = 1000;
let timer = null;
let everConnected = false;
let connection = 'connecting';
const connectionListeners = new Set();

function setConnection(state) {
  connection = state;
  connectionListeners.forEach((f) => f(state));
}

function dispatch(type, data) {
  subscribers.forEach((f) => {
    try { f(type, data); } catch (e) { console.error(e); }
  });
}

/** Opens the stream (idempotent). */
export function startLive() {
  if (source) return;
  source = new EventSource('/api/v1/events');
  source.addEventListener('ready', () => {
    delay = 1000;
    if (everConnected) dispatch('resync', {});
    everConnected = true;
    setConnection('live');
  });
  for (const type of ['calls', 'ringing', 'availability', 'voicemail']) {
    source.addEventListener(type, (e) => {
      let data = {};
      try { data = JSON.parse(e.data); } catch { /* keep {} */ }
      dispatch(type, data);
    });
  }
  source.addEventListener('resync', () => dispatch('resync', {}));
  source.onerror = () => {
    source.close();
    source = null;
    setConnection('reconnecting');
    clearTimeout(timer);
    timer = setTimeout(startLive, delay);
    delay = Math.min(delay * 2, 30000);
  };
}

/** Closes the stream (logout). */
export function stopLive() {
  clearTimeout(timer);
  if (source) source.close();
  source = null;
  everConnected = false;
  setConnection('connecting');
}

/** f(type, data) for every event; returns the unsubscribe function. */
export function subscribe(f) { subscribers.add(f); return () => subscribers.delete(f); }

/** f(state) on connection changes: connecting, live, reconnecting. */
export function onConnection(f) { connectionListeners.add(f); f(connection); return () => connectionListeners.delete(f); }
