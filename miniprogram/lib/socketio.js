// A Socket.IO client over wx.connectSocket's SocketTask, speaking Engine.IO 4 (socket.io-client 3/4
// framing) to `applet serve game`: one instance per socket, heartbeats answered, emits queued until
// connected, acks, reconnect with backoff.
class SocketIO {
  constructor(url, options) {
    this.url = url;
    this.options = options || {};
    this.wx = this.options.wx || wx; // injectable, so tests can run two clients
    this.handlers = {};
    this.acks = {};
    this.ackSeq = 0;
    this.queue = [];
    this.connected = false;
    this.closedByUser = false;
    this.attempts = 0;
    this.open();
  }

  open() {
    const sep = this.url.indexOf('?') >= 0 ? '&' : '?';
    const task = this.wx.connectSocket({ url: this.url + sep + 'EIO=4&transport=websocket', header: this.options.header || {} });
    this.task = task;
    task.onMessage((msg) => this.onFrame(String(msg.data)));
    task.onClose(() => this.onClose());
    task.onError(() => {});
  }

  onFrame(frame) {
    const type = frame[0];
    if (type === '0') {
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
      const queued = this.queue;
      this.queue = [];
      queued.forEach((f) => this.task.send({ data: f }));
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
    this.connected = false;
    this.fire('disconnect');
    if (this.closedByUser) return;
    const delay = Math.min(1000 * Math.pow(2, this.attempts++), 30000);
    this.timer = setTimeout(() => this.open(), delay);
  }

  on(event, handler) {
    (this.handlers[event] = this.handlers[event] || []).push(handler);
    return this;
  }

  fire(event, data) {
    (this.handlers[event] || []).forEach((h) => h(data));
  }

  emit(event, data, ack) {
    const args = data === undefined ? [event] : [event, data];
    let id = '';
    if (typeof ack === 'function') {
      id = String(++this.ackSeq);
      this.acks[id] = ack;
    }
    const frame = '42' + id + JSON.stringify(args);
    if (this.connected) this.task.send({ data: frame });
    else this.queue.push(frame);
  }

  close() {
    this.closedByUser = true;
    clearTimeout(this.timer);
    this.task.close({});
  }
}

module.exports = { SocketIO };
