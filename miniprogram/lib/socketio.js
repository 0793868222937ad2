// A Socket.IO client over wx.connectSocket's SocketTask, speaking Engine.IO 4 (socket.io-client 3/4
// framing) to `applet serve game`: one instance per socket, heartbeats answered, acks, reconnect
// with backoff. Made for phones: the handshake's header is built anew on every connect (a fresh
// login's skey), a link that stops hearing the server's pings is closed after the open packet's
// pingInterval + pingTimeout and reconnected, emits made while offline are dropped (emit returns
// false) rather than replayed into a later connection, and reconnectNow skips the backoff (the
// page came back, the network returned).
class SocketIO {
  constructor(url, options) {
    this.url = url;
    this.options = options || {};
    this.wx = this.options.wx || wx; // injectable, so tests can run two clients
    this.handlers = {};
    this.acks = {};
    this.ackSeq = 0;
    this.connected = false;
    this.closedByUser = false;
    this.attempts = 0;
    this.open();
  }

  header() {
    const h = this.options.header;
    return (typeof h === 'function' ? h() : h) || {};
  }

  open() {
    clearTimeout(this.timer);
    this.waiting = false;
    this.opened = false; // the open packet ('0') came on this connection
    this.lastError = '';
    const sep = this.url.indexOf('?') >= 0 ? '&' : '?';
    const task = this.wx.connectSocket({ url: this.url + sep + 'EIO=4&transport=websocket', header: this.header() });
    this.task = task;
    task.onMessage((msg) => { if (this.task === task) this.onFrame(String(msg.data)); });
    task.onClose(() => { if (this.task === task) this.onClose(); });
    task.onError((e) => { if (this.task === task) this.lastError = (e && e.errMsg) || ''; });
  }

  // alive restarts the wait for the next ping.
  alive() {
    clearTimeout(this.deadTimer);
    if (!this.pingWait) return;
    this.deadTimer = setTimeout(() => {
      this.fire('timeout');
      this.drop();
    }, this.pingWait);
  }

  // drop closes a connection that is gone quiet; onClose reconnects.
  drop() {
    const task = this.task;
    this.task = null;
    try { task.close({}); } catch (_) { /* already closed */ }
    this.onClose();
  }

  onFrame(frame) {
    this.alive();
    const type = frame[0];
    if (type === '0') {
      this.opened = true;
      try {
        const o = JSON.parse(frame.slice(1));
        this.pingWait = (o.pingInterval || 25000) + (o.pingTimeout || 20000);
      } catch (_) {
        this.pingWait = 45000;
      }
      this.alive();
      this.task.send({ data: '40' }); // connect to the default namespace
      return;
    }
    if (type === '2') {
      this.task.send({ data: '3' }); // heartbeat
      return;
    }
    if (type !== '4') return;
    const kind = frame[1];
    const body = frame.slice(2);
    if (kind === '0') {
      this.connected = true;
      this.attempts = 0;
      this.fire('connect');
    } else if (kind === '2') {
      const args = JSON.parse(body.replace(/^\d+/, ''));
      this.fire(args[0], args[1]);
    } else if (kind === '3') {
      const id = parseInt(body, 10);
      const args = JSON.parse(body.slice(String(id).length));
      const cb = this.acks[id];
      delete this.acks[id];
      if (cb) cb.apply(null, args);
    } else if (kind === '4') {
      this.fire('connect_error', body);
    }
  }

  onClose() {
    clearTimeout(this.deadTimer);
    const wasConnected = this.connected;
    this.connected = false;
    this.acks = {}; // their answers will not come
    if (wasConnected) this.fire('disconnect');
    if (!this.opened) {
      // The upgrade itself failed: an expired login answers 401 there.
      this.fire('handshake_failed', this.lastError);
      if (/\b401\b/.test(this.lastError)) this.fire('unauthorized');
    }
    if (this.closedByUser) return;
    const delay = Math.min(1000 * Math.pow(2, this.attempts++), 30000);
    this.waiting = true;
    this.fire('reconnecting', delay);
    this.timer = setTimeout(() => this.open(), delay);
  }

  // reconnectNow reconnects at once when the socket is waiting out a backoff.
  reconnectNow() {
    if (this.closedByUser || !this.waiting) return; // connected, or a connect is under way
    clearTimeout(this.timer);
    this.attempts = 0;
    this.open();
  }

  on(event, handler) {
    (this.handlers[event] = this.handlers[event] || []).push(handler);
    return this;
  }

  fire(event, data) {
    (this.handlers[event] || []).forEach((h) => h(data));
  }

  // emit sends an event now; offline it is dropped and emit returns false.
  emit(event, data, ack) {
    if (!this.connected) return false;
    const args = data === undefined ? [event] : [event, data];
    let id = '';
    if (typeof ack === 'function') {
      id = String(++this.ackSeq);
      this.acks[id] = ack;
    }
    this.task.send({ data: '42' + id + JSON.stringify(args) });
    return true;
  }

  close() {
    this.closedByUser = true;
    clearTimeout(this.timer);
    clearTimeout(this.deadTimer);
    if (this.task) this.task.close({});
  }
}

module.exports = { SocketIO };
