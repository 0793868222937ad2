// A client for the game's plain protocol at /applet/websocket/ws: JSON frames {event, data}.
class JSONSocket {
  constructor(url, options) {
    this.handlers = {};
    this.queue = [];
    this.open = false;
    const api = (options && options.wx) || wx; // injectable, so tests can run two clients
    this.task = api.connectSocket({ url, header: (options && options.header) || {} });
    this.task.onOpen(() => {
      this.open = true;
      this.queue.forEach((f) => this.task.send({ data: f }));
      this.queue = [];
    });
    this.task.onMessage((msg) => {
      const m = JSON.parse(String(msg.data));
      (this.handlers[m.event] || []).forEach((h) => h(m.data));
    });
  }

  on(event, handler) {
    (this.handlers[event] = this.handlers[event] || []).push(handler);
    return this;
  }

  emit(event, data) {
    const frame = JSON.stringify({ event, data: data === undefined ? {} : data });
    if (this.open) this.task.send({ data: frame });
    else this.queue.push(frame);
  }

  close() {
    this.task.close({});
  }
}

module.exports = { JSONSocket };
